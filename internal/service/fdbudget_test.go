package service

import (
	"strings"
	"testing"
)

func TestMaxConnectionsIsTheOpenFileLimitLessTheReserve(t *testing.T) {
	base := Config{Workers: 256, MaxPerHost: 8}
	lim := fileLimit{known: true, soft: 20000, hard: 20000}
	// Fresh data directory, defaults: Badger 64 + 2×64 + 1024 = 1216;
	// deliveries 4×256 + 256 = 1280; process 64; slack 256.
	const freshReserve = 1216 + 1280 + 64 + 256
	withPprof := base
	withPprof.PprofAddr = "127.0.0.1:6060"
	explicit := base
	explicit.MaxConnections = 10000
	tooMany := base
	tooMany.MaxConnections = 20000 - freshReserve + 1
	fewWorkers := base
	fewWorkers.Workers, fewWorkers.MaxPerHost = 4, 16
	for _, tc := range []struct {
		name                string
		cfg                 Config
		lim                 fileLimit
		logFiles, viewFiles int
		want                int
		wantErr             []string
	}{
		{name: "default, fresh data", cfg: base, lim: lim, want: 20000 - freshReserve},
		{name: "default with pprof", cfg: withPprof, lim: lim, want: 20000 - freshReserve - pprofFDs},
		{name: "files in the databases count twice, the views' twice again", cfg: base, lim: lim,
			logFiles: 100, viewFiles: 10, want: 20000 - freshReserve - 200 - 40},
		{name: "idle pool at least max-per-host", cfg: fewWorkers, lim: lim,
			want: 20000 - (1216 + 4*4 + 16 + 64 + 256)},
		{name: "explicit value that fits", cfg: explicit, lim: lim, want: 10000},
		{name: "explicit value one too many", cfg: tooMany, lim: lim,
			wantErr: []string{"--max-connections 17185 does not fit", "open-file limit is 20000", "2816 in reserve", "Badger 1216", "deliveries 1280", "at most 17184"}},
		{name: "a limit that cannot hold the reserve", cfg: base, lim: fileLimit{known: true, soft: 1024, hard: 1024},
			wantErr: []string{"open-file limit is 1024", "2816 in reserve", "raise the hard limit", "--max-in-flight"}},
		{name: "unknown limit", cfg: base, lim: fileLimit{}, want: defaultMaxConnectionsUnknownLimit},
		{name: "unlimited is capped", cfg: base, lim: fileLimit{known: true, soft: ^uint64(0), hard: ^uint64(0)},
			want: maxUsableLimit - freshReserve},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planFDs(tc.cfg, tc.lim, tc.logFiles, tc.viewFiles)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; plan %+v", p)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.maxConnections != tc.want {
				t.Errorf("max connections %d, want %d (plan %+v)", p.maxConnections, tc.want, p)
			}
			if tc.lim.known && p.maxConnections+p.reserve() > p.limit {
				t.Errorf("connections %d + reserve %d exceed the limit %d", p.maxConnections, p.reserve(), p.limit)
			}
		})
	}
}
