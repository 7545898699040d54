// Package poster renders a village's current red and black list (红黑榜) as
// the printable poster pinned to the bulletin board (宣传栏): one
// self-contained HTML page, CSS inlined and no external assets, so it
// prints the same from any browser with no network, on A4 or A3 portrait.
//
// RenderPNG draws the same poster as a picture (A4 or phone-sized) with a
// CJK font read by golang.org/x/image's opentype, for group chats, which
// take pictures and not pages.
//
// html/template escapes every field, since names and reasons are typed by
// village clerks. The package knows nothing of the review workflow or
// storage: the caller passes only entries that are approved and current.
package poster
