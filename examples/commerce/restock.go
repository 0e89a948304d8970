package commerce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"
)

// RestockPath is the HTTP endpoint of restocks from outside the web pages
// (a warehouse system, `parley-demo restock SKU N`): POST a JSON body
// {"sku": "...", "n": 3}. Every page showing the product updates exactly
// as for the inventory widget's button. The answer is JSON: the product's
// {sku, stock, held, available} after the restock, or {error} with 400
// (bad input: nothing changed), 404 (no such product) or 415 (not JSON:
// a cross-site form cannot post JSON without the browser asking first).
const RestockPath = "/commerce/restock"

// RestockRequest is the body of a POST to [RestockPath].
type RestockRequest struct {
	SKU string `json:"sku"`
	N   int    `json:"n"`
}

// RestockResult is the answer of a successful restock.
type RestockResult struct {
	SKU       string `json:"sku"`
	Stock     int    `json:"stock"`
	Held      int    `json:"held"`
	Available int    `json:"available"`
}

// Restock adds n units of sku and tells every page: the one path of the
// widget's button, the HTTP endpoint and the CLI.
func (a *App) Restock(ctx context.Context, sku string, n int) (Product, error) {
	if err := a.store.Restock(ctx, sku, n); err != nil {
		return Product{}, err
	}
	a.changed(sku)
	return a.store.Product(ctx, sku)
}

// RestockHandler serves POST [RestockPath].
func (a *App) RestockHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply := func(status int, v any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(v)
		}
		fail := func(status int, msg string) { reply(status, map[string]string{"error": msg}) }
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			fail(http.StatusMethodNotAllowed, "POST a JSON body {\"sku\": \"...\", \"n\": 1}")
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			fail(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
			return
		}
		var req RestockRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1024))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail(http.StatusBadRequest, "bad JSON: "+err.Error())
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		p, err := a.Restock(ctx, req.SKU, req.N)
		switch {
		case errors.Is(err, ErrNotFound):
			fail(http.StatusNotFound, fmt.Sprintf("no product %q", req.SKU))
		case errors.Is(err, ErrBadRestock):
			fail(http.StatusBadRequest, err.Error())
		case err != nil:
			fail(http.StatusInternalServerError, "restock failed")
			a.cfg.Logger.Error("commerce: restock", "sku", req.SKU, "err", err)
		default:
			reply(http.StatusOK, RestockResult{SKU: p.SKU, Stock: p.Stock, Held: p.Held, Available: p.Available()})
		}
	})
}
