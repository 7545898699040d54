package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// misnamed are log keys with one fixed spelling (ARCHITECTURE.md): the
// wrong spelling → the right one.
var misnamed = map[string]string{
	"error":    "err",
	"camera":   "camera_id",
	"speaker":  "speaker_id",
	"schedule": "schedule_id",
	"command":  "command_id",
	"box":      "box_id",
}

var logMethods = map[string]bool{"Debug": true, "Info": true, "Warn": true, "Error": true, "With": true}

// TestLogKeys reads every non-test Go file of the module and refuses a
// slog call (x.Debug/Info/Warn/Error/With with a message, then key-value
// pairs) that spells a fixed key another way, so that one search of the
// logs finds every line about a camera or a command.
func TestLogKeys(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !logMethods[sel.Sel.Name] {
				return true
			}
			// With takes pairs from its first argument; the others after
			// the message.
			first := 1
			if sel.Sel.Name == "With" {
				first = 0
			}
			for i := first; i < len(call.Args); i += 2 {
				lit, ok := call.Args[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				key, err := strconv.Unquote(lit.Value)
				if err != nil {
					continue
				}
				if want, bad := misnamed[key]; bad {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s:%d: log key %q: the key is %q", rel, fset.Position(lit.Pos()).Line, key, want)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read only %d files; is the module root %s?", files, root)
	}
}
