package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/projections"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// readBody reads a size-limited body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, &domain.FieldError{Message: "could not read the request body: " + err.Error()}
	}
	return body, nil
}

// decodeBody reads and decodes a JSON object body into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return domain.DecodeJSON(body, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"internal error: could not encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// dataResponse is the Bitrise envelope for one object.
type dataResponse struct {
	Data any `json:"data"`
}

// listResponse is the Bitrise envelope for a page.
// writePage answers one page of a list, each item converted by toJSON.
func writePage[T, J any](w http.ResponseWriter, page projections.Page[T], limit int, toJSON func(T) J) {
	data := make([]J, len(page.Items))
	for i, it := range page.Items {
		data[i] = toJSON(it)
	}
	writeJSON(w, http.StatusOK, listResponse{Data: data, Paging: paging{TotalItemCount: page.Total, PageItemLimit: limit, Next: page.Next}})
}

type listResponse struct {
	Data   any    `json:"data"`
	Paging paging `json:"paging"`
}

type paging struct {
	TotalItemCount uint64 `json:"total_item_count"`
	PageItemLimit  int    `json:"page_item_limit"`
	Next           string `json:"next,omitempty"`
}
