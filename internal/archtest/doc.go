// Package archtest holds only tests of rules ARCHITECTURE.md states for the
// whole module: the import rules, so the layout keeps showing the
// architecture, and the fixed spelling of log keys.
package archtest
