package snapcodec

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	e := NewEncoder("M1")
	e.U64(math.MaxUint64)
	e.I64(-5)
	e.Int(7)
	e.F64(math.Inf(-1))
	e.Bool(true)
	e.Raw([]byte{1, 2})
	e.String("hé")
	e.I8s([]int8{-128, 127})
	e.Bools([]bool{true, false})
	e.I32s([]int32{-1, 1 << 30})
	e.F64s([]float64{0.1, math.NaN()})
	d := NewDecoder(e.Bytes(), "M1")
	got := []any{d.U64(), d.I64(), d.Int(), d.F64(), d.Bool(), d.Raw(), d.String(), d.I8s(), d.Bools(), d.I32s()}
	f := d.F64s()
	if err := d.Done(); err != nil {
		t.Fatal(err)
	}
	want := []any{uint64(math.MaxUint64), int64(-5), 7, math.Inf(-1), true, []byte{1, 2}, "hé", []int8{-128, 127}, []bool{true, false}, []int32{-1, 1 << 30}}
	if !reflect.DeepEqual(got, want) || f[0] != 0.1 || !math.IsNaN(f[1]) {
		t.Fatalf("got %v %v", got, f)
	}
}

func TestErrors(t *testing.T) {
	if err := NewDecoder([]byte("XX"), "M1").Err(); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Fatal(err)
	}
	e := NewEncoder("M1")
	e.I8s([]int8{1, 2, 3})
	b := e.Bytes()
	d := NewDecoder(b[:len(b)-1], "M1")
	d.Field("levels").I8s()
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), `"levels"`) {
		t.Fatal(err)
	}
	d = NewDecoder(append(append([]byte{}, b...), 0), "M1")
	d.I8s()
	if err := d.Done(); err == nil || !strings.Contains(err.Error(), "unexpected bytes") {
		t.Fatal(err)
	}
	e = NewEncoder("M1")
	e.U64(1 << 62) // a huge length must not allocate
	d = NewDecoder(e.Bytes(), "M1")
	if d.F64s() != nil || d.Err() == nil {
		t.Fatal("huge length accepted")
	}
	d = NewDecoder(append([]byte("M1"), 2), "M1")
	if d.Bool(); d.Err() == nil {
		t.Fatal("bool byte 2 accepted")
	}
}

func FuzzDecoder(f *testing.F) {
	e := NewEncoder("M1")
	e.I8s([]int8{1})
	e.Bools([]bool{true})
	e.F64s([]float64{1})
	e.I32s([]int32{1})
	e.String("x")
	f.Add(e.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b, "M1")
		d.I8s()
		d.Bools()
		d.F64s()
		d.I32s()
		_ = d.String()
		_ = d.Done()
	})
}
