package natslog

import "testing"

func TestAtLeastVersion(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"2.15.2", true}, {"2.15.0-beta.1", true}, {"2.16.0", true}, {"3.0.0", true},
		{"2.14.9", false}, {"2.9.25", false}, {"1.99.0", false}, {"", false}, {"nonsense", false},
	} {
		if got := atLeastVersion(tc.v, 2, 15); got != tc.want {
			t.Errorf("atLeastVersion(%q, 2, 15) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
