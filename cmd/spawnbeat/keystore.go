package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spawnbeat/spawnbeat/beater"
	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/config/keystore"
)

// newKeystoreCommand manages the secrets keystore as Beats' keystore command
// does, with its messages and exit statuses (1 on any failure).
func newKeystoreCommand(g *globals) *cobra.Command {
	ks := &cobra.Command{
		Use:   "keystore",
		Short: "Manage the secrets keystore (path.data/" + keystore.FileName + ")",
		Long: `Manage the secrets keystore. A key added here is used in the configuration as ${KEY}
(output.elasticsearch.password: "${ES_PWD}"); the keystore is read before the environment.
Run these commands as the user who runs spawnbeat, with the same --path.data.`,
	}
	ks.AddCommand(newKeystoreCreateCommand(g), newKeystoreAddCommand(g), newKeystoreListCommand(g), newKeystoreRemoveCommand(g))
	return ks
}

func keystorePath(cmd *cobra.Command, g *globals) (string, error) {
	return config.KeystorePath(g.source(cmd))
}

func newKeystoreCreateCommand(g *globals) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "create",
		Short: "Create an empty keystore",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := keystorePath(cmd, g)
			if err != nil {
				return err
			}
			exists, err := keystore.Exists(path)
			if err != nil {
				return err
			}
			if exists && !force {
				tty, ok := terminal(cmd.InOrStdin())
				if !ok {
					return fmt.Errorf("a keystore already exists at %s: %w; use --force to overwrite it", path, keystore.ErrExists)
				}
				yes, err := promptYesNo(cmd.Context(), tty, cmd.ErrOrStderr(), "A keystore already exists, Overwrite?", false)
				if err != nil {
					return err
				}
				if !yes {
					fmt.Fprintln(cmd.OutOrStdout(), "Exiting without creating keystore.")
					return nil
				}
			}
			if err := keystore.New(path).Save(); err != nil {
				return fmt.Errorf("error creating the keystore: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created spawnbeat keystore (%s)\n", path)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing keystore")
	return c
}

func newKeystoreAddCommand(g *globals) *cobra.Command {
	var force, stdin bool
	c := &cobra.Command{
		Use:   "add KEY",
		Short: "Add a secret (prompted for without echo, or read from stdin with --stdin)",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return errors.New("failed to create the secret: no key provided")
			case len(args) > 1:
				return fmt.Errorf("could not create secret for: %s: you can only provide one key per invocation", strings.Join(args, " "))
			}
			key := strings.TrimSpace(args[0])
			if err := config.CheckKeystoreKey(key, beater.Settings()); err != nil {
				return err
			}
			path, err := keystorePath(cmd, g)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tty, isTerminal := terminal(cmd.InOrStdin())
			if !stdin && !isTerminal {
				return fmt.Errorf("could not read the value of %s: %w; pass it on stdin with --stdin", key, errNotTerminal)
			}
			// Questions go to the terminal, never to a secret piped in.
			interactive := isTerminal && !stdin

			store, err := keystore.Open(path, g.strictPerms)
			created := false
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if !force {
					if !interactive {
						return fmt.Errorf("the keystore %s does not exist: create it with `spawnbeat keystore create`, or add --force to create it", path)
					}
					yes, err := promptYesNo(cmd.Context(), tty, cmd.ErrOrStderr(), "The keystore does not exist. Do you want to create it?", false)
					if err != nil {
						return err
					}
					if !yes {
						return errors.New("exiting without creating keystore")
					}
				}
				store, created = keystore.New(path), true
			case err != nil:
				return err
			}

			if store.Has(key) && !force {
				if !interactive {
					return fmt.Errorf("the setting %s already exists in the keystore: use --force to replace it", key)
				}
				yes, err := promptYesNo(cmd.Context(), tty, cmd.ErrOrStderr(), fmt.Sprintf("Setting %s already exists, Overwrite?", key), false)
				if err != nil {
					return err
				}
				if !yes {
					fmt.Fprintln(out, "Exiting without modifying keystore.")
					return nil
				}
			}

			var value []byte
			if stdin {
				value, err = readStdinValue(cmd.InOrStdin())
			} else {
				value, err = readSecret(cmd.Context(), tty, cmd.ErrOrStderr(), fmt.Sprintf("Enter value for %s: ", key))
			}
			if err != nil {
				return fmt.Errorf("could not read the value of %s: %w", key, err)
			}
			if err := store.Set(key, value); err != nil {
				return fmt.Errorf("could not add the key to the keystore: %w", err)
			}
			if err := store.Save(); err != nil {
				return fmt.Errorf("failed to save the keystore: %w", err)
			}
			if created {
				fmt.Fprintf(out, "Created spawnbeat keystore (%s)\n", path)
			}
			fmt.Fprintln(out, "Successfully updated the keystore")
			return nil
		},
	}
	c.Flags().BoolVar(&stdin, "stdin", false, "read the secret from stdin (one trailing newline is dropped)")
	c.Flags().BoolVar(&force, "force", false, "replace an existing key, and create the keystore if there is none")
	return c
}

// readStdinValue reads the whole of stdin, bounded, without the newline
// that `echo` or a here-string adds.
func readStdinValue(in io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(in, keystore.MaxValueLen+3))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	b, _ = bytes.CutSuffix(b, []byte("\n"))
	b, _ = bytes.CutSuffix(b, []byte("\r"))
	return b, nil
}

func newKeystoreListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the keys (never the values)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := keystorePath(cmd, g)
			if err != nil {
				return err
			}
			store, err := keystore.Open(path, g.strictPerms)
			if errors.Is(err, fs.ErrNotExist) {
				// As Beats: no keystore lists no keys.
				fmt.Fprintf(cmd.ErrOrStderr(), "spawnbeat: no keystore at %s\n", path)
				return nil
			}
			if err != nil {
				return fmt.Errorf("could not read the keystore: %w", err)
			}
			for _, k := range store.Keys() {
				fmt.Fprintln(cmd.OutOrStdout(), k)
			}
			return nil
		},
	}
}

func newKeystoreRemoveCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove KEY...",
		Short: "Remove secrets",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("you must supply at least one key to remove")
			}
			path, err := keystorePath(cmd, g)
			if err != nil {
				return err
			}
			store, err := keystore.Open(path, g.strictPerms)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("the keystore %s doesn't exist: use the 'create' command to create one", path)
			}
			if err != nil {
				return err
			}
			// All or nothing: a misspelt key removes none of the others.
			var missing []string
			for i, k := range args {
				args[i] = strings.TrimSpace(k)
				if !store.Has(args[i]) {
					missing = append(missing, fmt.Sprintf("'%s'", args[i]))
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("could not find key %s in the keystore; nothing removed", strings.Join(missing, ", "))
			}
			for _, k := range args {
				store.Delete(k)
			}
			if err := store.Save(); err != nil {
				return fmt.Errorf("could not update the keystore with the changes: %w", err)
			}
			for _, k := range args {
				fmt.Fprintf(cmd.OutOrStdout(), "successfully removed key: %s\n", k)
			}
			return nil
		},
	}
}
