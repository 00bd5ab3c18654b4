package kibana

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Imported is what an import put into Kibana.
type Imported struct {
	Count    int      // objects Kibana reports as imported
	Warnings []string // Kibana's warnings (an action a user must take), for the log
}

// ImportSavedObjects posts saved-object NDJSON to POST
// /api/saved_objects/_import?overwrite=true in the client's space: each
// object with the id of one already there replaces it, so importing twice
// leaves the same set. A 200 answer that lists failed objects is an
// *ImportError naming each one's type, id and reason (the others were
// imported); any other status is a *StatusError.
func (c *Client) ImportSavedObjects(ctx context.Context, ndjson []byte) (Imported, error) {
	const what = "saved objects"
	answer, u, err := c.postImport(ctx, what, "/api/saved_objects/_import", ndjson, nil)
	if err != nil {
		return Imported{}, err
	}
	var r struct {
		Success      *bool `json:"success"`
		SuccessCount int   `json:"successCount"`
		Errors       []struct {
			ID    string `json:"id"`
			Type  string `json:"type"`
			Title string `json:"title"`
			Meta  struct {
				Title string `json:"title"`
			} `json:"meta"`
			Error savedObjectError `json:"error"`
		} `json:"errors"`
		Warnings []struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"warnings"`
	}
	if err := json.Unmarshal(answer, &r); err != nil || r.Success == nil {
		return Imported{}, fmt.Errorf("import %s: %s answered 200 with what is not an import result: %s", what, u, shorten(string(answer), 200))
	}
	got := Imported{Count: r.SuccessCount}
	for _, w := range r.Warnings {
		got.Warnings = append(got.Warnings, w.Message)
	}
	if *r.Success && len(r.Errors) == 0 {
		return got, nil
	}
	ie := &ImportError{What: what, URL: u, Sent: countObjects(ndjson), Imported: r.SuccessCount}
	for _, e := range r.Errors {
		title := e.Meta.Title
		if title == "" {
			title = e.Title
		}
		ie.Failures = append(ie.Failures, Failure{Type: e.Type, ID: e.ID, Title: title, Reason: e.Error.reason()})
	}
	if len(ie.Failures) == 0 {
		ie.Failures = []Failure{{Type: "import", Reason: "Kibana answered success: false without naming an object"}}
	}
	return got, ie
}

// postImport posts ndjson as a multipart file to an import API of the
// client's space with overwrite=true, and returns the 200 answer and the
// request's URL. Any other status is a *StatusError.
func (c *Client) postImport(ctx context.Context, what, api string, ndjson []byte, header http.Header) ([]byte, string, error) {
	body, contentType, err := multipartFile(ndjson)
	if err != nil {
		return nil, "", fmt.Errorf("import %s: build the request: %w", what, err)
	}
	status, answer, u, err := c.do(ctx, request{
		method: http.MethodPost, path: c.base.Path + c.spacePrefix() + api,
		query: "overwrite=true", contentType: contentType, header: header, body: body,
	})
	if err != nil {
		return nil, u, fmt.Errorf("import %s: %w", what, err)
	}
	if status != http.StatusOK {
		return nil, u, statusError("import "+what, u, status, answer)
	}
	return answer, u, nil
}

// savedObjectError is the error of one failed saved object, as Kibana's
// SavedObjectsImportFailure has it: its type says which other fields there
// are.
type savedObjectError struct {
	Type       string `json:"type"`
	Message    string `json:"message"`
	StatusCode int    `json:"statusCode"`
	References []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"references"`
	DestinationID string `json:"destinationId"`
	Destinations  []struct {
		ID string `json:"id"`
	} `json:"destinations"`
}

func (e savedObjectError) reason() string {
	switch e.Type {
	case "conflict":
		if e.DestinationID != "" {
			return "conflict with object " + e.DestinationID
		}
		return "conflict: an object with this id exists"
	case "ambiguous_conflict":
		return fmt.Sprintf("ambiguous conflict: %d objects could be overwritten", len(e.Destinations))
	case "unsupported_type":
		return "unsupported type: this Kibana cannot import it"
	case "missing_references":
		refs := make([]string, len(e.References))
		for i, r := range e.References {
			refs[i] = r.Type + " " + r.ID
		}
		return "missing references: " + strings.Join(refs, ", ")
	}
	s := e.Type
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" (status %d)", e.StatusCode)
	}
	return s
}

// ImportRules posts detection-rule NDJSON to POST
// /api/detection_engine/rules/_import?overwrite=true in the client's space:
// a rule with the rule_id of one already there replaces it. A 200 answer
// with failed rules (or exception lists, or connectors) is an
// *ImportError naming each one's rule_id and message; any other status is
// a *StatusError.
func (c *Client) ImportRules(ctx context.Context, ndjson []byte) (Imported, error) {
	const what = "detection rules"
	answer, u, err := c.postImport(ctx, what, "/api/detection_engine/rules/_import", ndjson,
		http.Header{"Elastic-Api-Version": {rulesAPIVersion}})
	if err != nil {
		return Imported{}, err
	}
	var r struct {
		Success                *bool         `json:"success"`
		SuccessCount           int           `json:"success_count"`
		RulesCount             int           `json:"rules_count"`
		Errors                 []bulkError   `json:"errors"`
		ExceptionsErrors       []bulkError   `json:"exceptions_errors"`
		ActionConnectorsErrors []bulkError   `json:"action_connectors_errors"`
		ActionConnectorsWarns  []ruleWarning `json:"action_connectors_warnings"`
	}
	if err := json.Unmarshal(answer, &r); err != nil || r.Success == nil {
		return Imported{}, fmt.Errorf("import %s: %s answered 200 with what is not an import result: %s", what, u, shorten(string(answer), 200))
	}
	got := Imported{Count: r.SuccessCount}
	for _, w := range r.ActionConnectorsWarns {
		got.Warnings = append(got.Warnings, w.Message)
	}
	ie := &ImportError{What: what, URL: u, Sent: countObjects(ndjson), Imported: r.SuccessCount}
	for _, e := range r.Errors {
		ie.Failures = append(ie.Failures, e.failure("rule"))
	}
	for _, e := range r.ExceptionsErrors {
		ie.Failures = append(ie.Failures, e.failure("exception list"))
	}
	for _, e := range r.ActionConnectorsErrors {
		ie.Failures = append(ie.Failures, e.failure("connector"))
	}
	if *r.Success && len(ie.Failures) == 0 {
		return got, nil
	}
	if len(ie.Failures) == 0 {
		ie.Failures = []Failure{{Type: "import", Reason: "Kibana answered success: false without naming a rule"}}
	}
	return got, ie
}

// bulkError is one failure of the detection engine's import: the rule
// (or list, or connector) it concerns and error.status_code/message.
type bulkError struct {
	RuleID string `json:"rule_id"`
	ID     string `json:"id"`
	ListID string `json:"list_id"`
	ItemID string `json:"item_id"`
	Error  struct {
		StatusCode int    `json:"status_code"`
		Message    string `json:"message"`
	} `json:"error"`
}

func (e bulkError) failure(typ string) Failure {
	id := e.RuleID
	for _, alt := range []string{e.ListID, e.ItemID, e.ID} {
		if id == "" {
			id = alt
		}
	}
	reason := e.Error.Message
	if e.Error.StatusCode != 0 {
		reason += fmt.Sprintf(" (status %d)", e.Error.StatusCode)
	}
	return Failure{Type: typ, ID: id, Reason: reason}
}

type ruleWarning struct {
	Message string `json:"message"`
}
