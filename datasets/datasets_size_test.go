package datasets

import "testing"

func TestSizeOf(t *testing.T) {
	for _, name := range Names() {
		s, err := SizeOf(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.C <= 0 || s.H <= 0 || s.W <= 0 || s.Train <= s.Test || s.Test <= 0 {
			t.Errorf("%s: implausible size %+v", name, s)
		}
	}
	if _, err := SizeOf("imagenet"); err == nil {
		t.Error("SizeOf(imagenet): no error")
	}
}
