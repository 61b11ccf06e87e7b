package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// The log stream's media types hold many values, where the document can
// only give the schema of one: these decoders validate every line (JSON
// Lines) or every event's data (SSE) against it, and hand the validator
// the first, which it validates again. An empty stream is refused: the
// contract session never asks for one.

var registerStreamDecoders = sync.OnceFunc(func() {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(r io.Reader, _ http.Header, schema *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		return eachValue(r, schema, func(line string) (string, bool) { return line, line != "" })
	})
	openapi3filter.RegisterBodyDecoder("text/event-stream", func(r io.Reader, _ http.Header, schema *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		return eachValue(r, schema, func(line string) (string, bool) {
			switch {
			case line == "", strings.HasPrefix(line, ":"), strings.HasPrefix(line, "id: "), line == "event: entry":
				return "", false
			case strings.HasPrefix(line, "data: "):
				return line[len("data: "):], true
			}
			return line, true // not SSE: fails to decode below
		})
	})
})

// eachValue validates the JSON value of each line that value picks out
// against schema and returns the first.
func eachValue(r io.Reader, schema *openapi3.SchemaRef, value func(line string) (string, bool)) (any, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 8<<20)
	var first any
	n := 0
	for sc.Scan() {
		v, ok := value(sc.Text())
		if !ok {
			continue
		}
		var x any
		dec := json.NewDecoder(bytes.NewReader([]byte(v)))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("value %d is not JSON: %v", n+1, err)
		}
		if err := schema.Value.VisitJSON(x, openapi3.VisitAsResponse()); err != nil {
			return nil, fmt.Errorf("value %d does not match the schema: %v", n+1, err)
		}
		if n == 0 {
			first = x
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("an empty stream: the contract test should not ask for one")
	}
	return first, nil
}

// logSession calls the log endpoints through api, which the contract v
// validates; the log must hold at least 3 entries.
func logSession(t *testing.T, v *contract, api *client) {
	t.Helper()
	api.do(http.MethodGet, "/v0.1/log/head", nil).expect(t, http.StatusOK)
	api.do(http.MethodGet, "/v0.1/log/entries", nil).expect(t, http.StatusOK)
	api.do(http.MethodGet, "/v0.1/log/entries?from=2&to=3", nil).expect(t, http.StatusOK)
	api.do(http.MethodGet, "/v0.1/log/entries?follow=false", nil, "Accept", "text/event-stream", "Last-Event-ID", "1").expect(t, http.StatusOK)
	api.do(http.MethodGet, "/v0.1/log/entries?to=2", nil, "Accept", "text/event-stream").expect(t, http.StatusOK)
	api.do(http.MethodGet, "/v0.1/log/entries?to=99999999", nil).expectError(t, http.StatusBadRequest, "head")
	api.do(http.MethodGet, "/v0.1/log/entries?from=3&to=1", nil).expectError(t, http.StatusBadRequest, "before")
	v.rejected(func() {
		api.do(http.MethodGet, "/v0.1/log/entries?from=0", nil).expectError(t, http.StatusBadRequest, "from")
	}, "from 0")
	v.rejected(func() {
		api.do(http.MethodGet, "/v0.1/log/entries?follow=maybe", nil).expectError(t, http.StatusBadRequest, "follow")
	}, "follow not a boolean")
}
