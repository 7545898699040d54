package schedule

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// badRules are rules as they arrive, in the desired state's JSON, with
// every message Validate must give for each. They double as fuzz seeds.
var badRules = []struct {
	name string
	json string
	want []string
}{
	{"empty", `{}`, []string{"needs at (times of day) or once"}},
	{"everything wrong at once",
		`{"at":["8:00","24:00","07:60","07:30:5x"],"weekdays":[0,8],"month_days":[0,32,-2],` +
			`"start":"2028-02-30","end":"2028-1-01","count":-1,"zone":"Mars/Olympus"}`,
		[]string{
			`zone "Mars/Olympus": not a known IANA zone`,
			`at[0] "8:00": want HH:MM or HH:MM:SS`, `at[1] "24:00"`, `at[2] "07:60"`, `at[3] "07:30:5x"`,
			"weekdays[0] = 0: want 1 (Monday) to 7 (Sunday)", "weekdays[1] = 8",
			"month_days[0] = 0: want 1 to 31, or -1 for the last day", "month_days[1] = 32", "month_days[2] = -2",
			`start "2028-02-30": no such date`, `end "2028-1-01": want a date YYYY-MM-DD`,
			"count -1: want 0 (no cap) or more",
		}},
	{"end before start", `{"at":["08:00"],"start":"2028-03-01","end":"2028-02-29"}`, []string{"end 2028-02-29 is before start 2028-03-01"}},
	{"count without start", `{"at":["08:00"],"count":3}`, []string{"count 3 needs a start date"}},
	{"once and at", `{"at":["08:00"],"once":"2028-01-01T08:00:00+08:00"}`, []string{"once excludes at: a rule is one-shot or recurring"}},
	{"once with recurring fields", `{"once":"2028-01-01T08:00:00+08:00","weekdays":[1],"start":"2028-01-01","count":1}`, []string{"once excludes weekdays, start, count"}},
	{"once without an offset", `{"once":"2028-01-01T08:00:00"}`, []string{`once "2028-01-01T08:00:00": want RFC 3339 with an offset`}},
	{"once in words", `{"once":"tomorrow 8am"}`, []string{"RFC 3339"}},
	{"the box's own zone", `{"at":["08:00"],"zone":"Local"}`, []string{`zone "Local": name the zone`}},
	{"a path for a zone", `{"at":["08:00"],"zone":"../../etc/passwd"}`, []string{"not a known IANA zone"}},
	{"times out of range", `{"at":["23:59:60","-1:00","12:00:00:00","12h30"]}`, []string{`at[0]`, `at[1]`, `at[2]`, `at[3]`}},
	{"year zero", `{"at":["08:00"],"start":"0000-01-01"}`, []string{`start "0000-01-01": no such date`}},
}

func TestValidateReportsEveryProblem(t *testing.T) {
	for _, c := range badRules {
		t.Run(c.name, func(t *testing.T) {
			var r Rule
			if err := json.Unmarshal([]byte(c.json), &r); err != nil {
				t.Fatal(err)
			}
			err := r.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			// One joined error per problem, each naming the package.
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("%T is not joined", err)
			}
			if n := len(joined.Unwrap()); c.name == "everything wrong at once" && n != len(c.want) {
				t.Errorf("%d errors, want %d:\n%v", n, len(c.want), err)
			}
			for _, e := range joined.Unwrap() {
				if !strings.HasPrefix(e.Error(), "schedule: ") {
					t.Errorf("unprefixed: %v", e)
				}
			}
		})
	}
}

func TestValidateAcceptsGoodRules(t *testing.T) {
	for _, r := range []Rule{
		{At: []string{"00:00", "23:59:59"}},
		{At: []string{"08:00"}, Weekdays: []int{1, 7}, MonthDays: []int{1, 31, -1}, Start: "2028-02-29", End: "2028-02-29", Count: 1},
		{At: []string{"08:00"}, Zone: "UTC"},
		{At: []string{"08:00"}, Zone: "America/New_York", Start: "0001-01-01", End: "9999-12-31"},
		{Once: "2028-05-04T10:00:00.5+08:00", Zone: "Asia/Urumqi"},
	} {
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

// The desired state carries rules as snake_case JSON, empty fields omitted.
func TestRuleJSON(t *testing.T) {
	r := Rule{
		At: []string{"08:00", "18:00:30"}, Weekdays: []int{1, 5}, MonthDays: []int{1, -1},
		Start: "2028-01-01", End: "2028-12-31", Count: 10, Zone: "Asia/Shanghai",
	}
	const want = `{"at":["08:00","18:00:30"],"weekdays":[1,5],"month_days":[1,-1],` +
		`"start":"2028-01-01","end":"2028-12-31","count":10,"zone":"Asia/Shanghai"}`
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Rule
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if b, _ := json.Marshal(Rule{Once: "2028-05-04T10:00:00+08:00"}); string(b) != `{"once":"2028-05-04T10:00:00+08:00"}` {
		t.Errorf("one-shot: %s", b)
	}
	if b, _ := json.Marshal(Quiet{From: "22:00", To: "06:30"}); string(b) != `{"from":"22:00","to":"06:30"}` {
		t.Errorf("quiet: %s", b)
	}
}
