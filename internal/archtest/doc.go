// Package archtest holds only the test that checks the import rules of
// STYLE.md, so the layout keeps showing the architecture.
package archtest
