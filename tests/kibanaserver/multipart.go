package kibanaserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
)

// Kibana's default payload limits: savedObjects.maxImportPayloadBytes and
// xpack.securitySolution.maxRuleImportPayloadBytes.
const (
	maxImportPayloadBytes     = 26214400
	maxRuleImportPayloadBytes = 10485760
)

// importFile is the file part of an import request.
type importFile struct {
	name string
	data []byte
}

// errAnswered means the request has been answered already.
var errAnswered = errors.New("answered")

// readImportFile reads the "file" part of a multipart/form-data import
// request with the checks hapi and Kibana's route schema make: 415 for
// another content type, 413 above maxBytes, 400 for a malformed body, a
// missing or repeated file part or another field. The rules import route
// has no body schema (schema.any()): its handler reads body.file.hapi and
// fails with a 500 when there is no file, and ignores other fields; rules
// selects that. On error the request has been answered.
func (rs *reply) readImportFile(maxBytes int64, rules bool) (importFile, error) {
	noFile := func() {
		rs.siemError(http.StatusInternalServerError, "Cannot destructure property 'filename' of 'request.body.file.hapi' as it is undefined.")
	}
	mt, params, err := mime.ParseMediaType(rs.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		if rules {
			noFile()
		} else {
			rs.boom(http.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
		}
		return importFile{}, errAnswered
	}
	body, err := io.ReadAll(io.LimitReader(rs.r.Body, maxBytes+1))
	if err != nil {
		rs.boom(http.StatusBadRequest, "Invalid request payload input", nil)
		return importFile{}, errAnswered
	}
	if int64(len(body)) > maxBytes {
		rs.boom(http.StatusRequestEntityTooLarge, fmt.Sprintf("Payload content length greater than maximum allowed: %d", maxBytes), nil)
		return importFile{}, errAnswered
	}
	if params["boundary"] == "" {
		rs.boom(http.StatusBadRequest, "Invalid multipart payload format", nil)
		return importFile{}, errAnswered
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var files []importFile
	fields := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rs.boom(http.StatusBadRequest, "Invalid multipart payload format", nil)
			return importFile{}, errAnswered
		}
		data, err := io.ReadAll(part)
		if err != nil {
			rs.boom(http.StatusBadRequest, "Invalid multipart payload format", nil)
			return importFile{}, errAnswered
		}
		name := part.FormName()
		if name == "file" && part.FileName() != "" {
			files = append(files, importFile{name: part.FileName(), data: data})
			continue
		}
		fields[name] = true
	}
	switch {
	case rules && len(files) == 0:
		noFile()
	case rules:
		return files[len(files)-1], nil
	case fields["file"]:
		rs.boom(http.StatusBadRequest, "[request body.file]: expected value of type [Stream] but got [string]", nil)
	case len(files) > 1:
		rs.boom(http.StatusBadRequest, "[request body.file]: expected value of type [Stream] but got [Array]", nil)
	case len(files) == 0:
		rs.boom(http.StatusBadRequest, "[request body.file]: expected value of type [Stream] but got [undefined]", nil)
	case len(fields) > 0:
		for name := range fields {
			rs.boom(http.StatusBadRequest, "[request body."+name+"]: definition for this key is missing", nil)
			break
		}
	default:
		return files[0], nil
	}
	return importFile{}, errAnswered
}

// ndjsonExtension is what both import routes require of the file name
// (extname(filename).toLowerCase() !== '.ndjson').
func ndjsonExtension(name string) (string, bool) {
	ext := strings.ToLower(path.Ext(name))
	return ext, ext == ".ndjson"
}
