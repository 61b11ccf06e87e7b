package natslog

import (
	"net/url"
	"strings"
)

func splitURLs(s string) []string { return strings.Split(s, ",") }

// hostOnly returns u without user information, for error messages.
func hostOnly(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		if i := strings.LastIndexByte(u, '@'); i >= 0 {
			return u[i+1:]
		}
		return u
	}
	return p.Host
}
