package poster

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.html")

func sample() Data {
	return Data{
		Township: "青山镇",
		Village:  "示范村",
		Period:   "2026年11月",
		Red: []Entry{
			{Name: "张三", Household: "一组3号", Category: "孝老爱亲", Reason: "照顾瘫痪在床的婆婆十年", Points: 10},
			{Name: "李四", Category: "环境卫生", Reason: "主动清理村道垃圾", Points: 5},
		},
		Black: []Entry{
			{Name: "王五", Household: "三组12号", Category: "乱堆乱放", Reason: "柴草堆占道，劝说未改", Points: -5},
		},
		Issued: time.Date(2026, 12, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600)),
	}
}

func render(t *testing.T, d Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// inOrder checks that each of parts occurs in s after the previous one.
func inOrder(t *testing.T, s string, parts ...string) {
	t.Helper()
	at := 0
	for _, p := range parts {
		i := strings.Index(s[at:], p)
		if i < 0 {
			t.Fatalf("%q missing or out of order (after byte %d)", p, at)
		}
		at += i + len(p)
	}
}

func TestRenderStructure(t *testing.T) {
	html := render(t, sample())
	inOrder(t, html,
		`<html lang="zh-CN">`, `<meta charset="utf-8">`,
		"<title>示范村 2026年11月 红黑榜</title>",
		"@page { size: A4 portrait;",
		"青山镇", "<h1>示范村 2026年11月 红黑榜</h1>",
		`<section class="red">`, "光荣榜", "红榜",
		"<th>姓名/户</th><th>类别</th><th>事由</th>", "积分",
		"张三", "一组3号", "孝老爱亲", "照顾瘫痪在床的婆婆十年", "&#43;10", // html/template escapes "+"
		"李四", "环境卫生", "&#43;5",
		`<section class="black">`, "曝光台", "黑榜", "整改",
		"王五", "三组12号", "乱堆乱放", "-5",
		"发布日期：<time>2026年12月1日</time>",
	)
	if strings.Contains(html, "本月无") {
		t.Error("本月无 with entries in both lists")
	}
	// Self-contained: nothing fetched when printed.
	for _, ref := range []string{"<link", "<script", "<img", "src=", "url(", "@import", "http://", "https://"} {
		if strings.Contains(html, ref) {
			t.Errorf("external reference %q", ref)
		}
	}
	if n := strings.Count(html, "<tr>"); n != 2+3 {
		t.Errorf("%d rows, want 2 headers + 3 entries", n)
	}
}

func TestRenderEscapes(t *testing.T) {
	d := sample()
	d.Village = `<b>村</b>`
	d.Red[0].Name = `<script>alert("x")</script>`
	d.Red[0].Reason = `" onmouseover="x`
	d.Black[0].Household = `</td></tr></table><img src=x onerror=alert(1)>`
	html := render(t, d)
	for _, raw := range []string{`<script>`, `<b>村`, `<img`, `" onmouseover`} {
		if strings.Contains(html, raw) {
			t.Errorf("unescaped %q in output", raw)
		}
	}
	inOrder(t, html, "&lt;b&gt;村&lt;/b&gt;", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;img src=x")
}

func TestRenderEmptySections(t *testing.T) {
	d := sample()
	d.Red, d.Black = nil, nil
	html := render(t, d)
	if n := strings.Count(html, "本月无"); n != 2 {
		t.Fatalf("本月无 %d times, want 2", n)
	}
	if strings.Contains(html, "<table>") {
		t.Fatal("a table with no entries")
	}
	d = sample()
	d.Black = nil
	inOrder(t, render(t, d), "光荣榜", "张三", "曝光台", "本月无")
}

func TestRenderSize(t *testing.T) {
	for _, tc := range []struct {
		size, want string
	}{
		{"", "@page { size: A4 portrait;"},
		{"A4", "@page { size: A4 portrait;"},
		{"A3", "@page { size: A3 portrait;"},
	} {
		d := sample()
		d.Size = tc.size
		if html := render(t, d); !strings.Contains(html, tc.want) {
			t.Errorf("size %q: no %q", tc.size, tc.want)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Data)
		want   string
	}{
		{"size", func(d *Data) { d.Size = "Letter" }, `size "Letter"`},
		{"css injection", func(d *Data) { d.Size = "A4; } body { display:none" }, "want A4 or A3"},
		{"lower case", func(d *Data) { d.Size = "a4" }, `size "a4"`},
		{"village", func(d *Data) { d.Village = " " }, "village is empty"},
		{"period", func(d *Data) { d.Period = "" }, "period is empty"},
		{"nameless", func(d *Data) { d.Black[0].Name = "" }, "black entry 1 has no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sample()
			tc.change(&d)
			var b bytes.Buffer
			err := Render(&b, d)
			if !errors.Is(err, ErrBadData) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadData with %q", err, tc.want)
			}
			if b.Len() != 0 {
				t.Fatalf("wrote %d bytes for refused data", b.Len())
			}
		})
	}
}

func TestRenderGolden(t *testing.T) {
	for _, size := range []string{"A4", "A3"} {
		t.Run(size, func(t *testing.T) {
			d := sample()
			d.Size = size
			got := render(t, d)
			path := filepath.Join("testdata", "sample-"+strings.ToLower(size)+".golden.html")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("output differs from %s (run with -update and review the diff):\n%s", path, firstDiff(got, string(want)))
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "got  " + al[i] + "\nwant " + bl[i]
		}
	}
	return "lengths differ"
}
