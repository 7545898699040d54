// Package report makes the workbooks a township files its reports in, with
// Chinese headers: a month's red and black lists with their review trail,
// the points ledger and leaderboard of a village, a box's play log and its
// cameras' viewing log over a range of days.
//
// It reads the lists through cloud/lists and the events through the
// store's search, and writes through cloud/sheet; it knows nothing of
// HTTP. Times are shown in the township's zone.
package report
