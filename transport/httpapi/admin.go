package httpapi

import (
	"net/http"

	"github.com/hookd/hookd/projections"
)

// ProjectionsAdmin is the views' administration: how far they are, and
// their online rebuild; *projections.Live is one.
type ProjectionsAdmin interface {
	// Status says how far the views are and how the last rebuild went.
	Status() (projections.Projections, error)
	// StartRebuild starts an online rebuild in the background;
	// projections.ErrRebuildRunning while one runs.
	StartRebuild() (projections.RebuildStatus, error)
}

// getProjections answers GET /v0.1/admin/projections:
// {"data": {"applied", "head", "rebuild"}}, rebuild null before the first.
func (a *api) getProjections(w http.ResponseWriter, _ *http.Request) error {
	if a.Admin == nil {
		return errNotFound
	}
	st, err := a.Admin.Status()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: st})
	return nil
}

// rebuildProjections answers POST /v0.1/admin/projections/rebuild: 202
// with the rebuild's status, or 409 while one runs.
func (a *api) rebuildProjections(w http.ResponseWriter, _ *http.Request) error {
	if a.Admin == nil {
		return errNotFound
	}
	st, err := a.Admin.StartRebuild()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, dataResponse{Data: st})
	return nil
}
