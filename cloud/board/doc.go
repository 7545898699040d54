// Package board is the fleet at a glance: every box with what its latest
// events and its plan say of it (clock, disk, speakers, cameras) and the
// problems an official should look at, read from the store in one pass
// and shared by every reader for a short while. The paged box list of
// the API and the console's dashboard filter, sort and page the same
// snapshot, so thousands of boxes cost one read per interval however
// many people look. Told that the fleet changed (Changed: a store's
// notification that another replica wrote), it reads again sooner, at
// most once per MinGap however many changes come, and only while someone
// looks.
//
// It knows nothing of HTTP, templates or languages: problems are codes,
// states are words the console translates.
package board
