package budget

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDecodeTOMLAndJSON(t *testing.T) {
	var doc struct {
		Budget Budget `toml:"budget"`
	}
	if _, err := toml.Decode("budget = { evaluations = 300, wall_time = \"90m\", generations = 7 }", &doc); err != nil {
		t.Fatal(err)
	}
	want := Budget{Evaluations: 300, WallTime: Duration(90 * time.Minute), Generations: 7}
	if doc.Budget != want {
		t.Fatalf("TOML: %+v", doc.Budget)
	}
	var fromJSON Budget
	if err := json.Unmarshal([]byte(`{"evaluations":300,"wall_time":5400,"generations":7}`), &fromJSON); err != nil || fromJSON != want {
		t.Fatalf("JSON seconds: %+v %v", fromJSON, err)
	}
	b, err := json.Marshal(want)
	if err != nil || string(b) != `{"evaluations":300,"wall_time":"1h30m0s","generations":7}` {
		t.Fatalf("JSON: %s %v", b, err)
	}
	if _, err := toml.Decode("budget = { wall_time = \"soon\" }", &doc); err == nil {
		t.Error("wall_time \"soon\" accepted")
	}
	if _, err := toml.Decode("budget = { wall_time = \"-5m\" }", &doc); err == nil {
		t.Error("negative wall_time accepted")
	}
}

func TestValidate(t *testing.T) {
	var fe *FieldError
	if err := (Budget{}).Validate(); !errors.As(err, &fe) || fe.Key != "" {
		t.Errorf("empty budget: %v", err)
	}
	if err := (Budget{Evaluations: 10, Generations: -1}).Validate(); !errors.As(err, &fe) || fe.Key != "generations" {
		t.Errorf("negative generations: %v", err)
	}
	if err := (Budget{Generations: 3}).Validate(); err != nil {
		t.Errorf("generations alone: %v", err)
	}
}

// FuzzDuration checks that any accepted text is positive and reads back.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"90m", "1h30m", "soon", "-5m", "0s", "1e9h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if d.UnmarshalText([]byte(s)) != nil {
			return
		}
		var back Duration
		if d <= 0 || back.UnmarshalText([]byte(d.String())) != nil || back != d {
			t.Fatalf("%q gave %v, read back %v", s, d, back)
		}
	})
}
