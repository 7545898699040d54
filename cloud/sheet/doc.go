// Package sheet reads and writes the tables township offices keep in
// spreadsheets: .xlsx workbooks (through excelize, which Chinese offices'
// files are tested against) and .csv text, which offices' older tools
// save in GBK as often as in UTF-8.
//
// Read takes the first sheet of a workbook, or a CSV file, as rows of
// text; a file is told by its content, not its name. Write makes one
// workbook of tables, a sheet each with a bold header row kept in view,
// streaming its rows, so ten thousand lines cost little memory.
//
// It knows nothing of what the tables mean: the roster's import and the
// exports give it rows.
package sheet
