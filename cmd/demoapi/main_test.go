package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(handler())
	defer srv.Close()
	alice := map[string]string{"X-Auth-User": "alice", "X-Auth-Email": "alice@example.test", "X-Auth-Groups": "admins, dev,"}
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		wantStatus               int
		wantJSON                 string
	}{
		{"me", "GET", "/me", "", alice, 200, `{"email":"alice@example.test","groups":["admins","dev"],"user":"alice"}`},
		{"me without groups", "GET", "/me", "", map[string]string{"X-Auth-User": "bob"}, 200, `{"email":"","groups":[],"user":"bob"}`},
		{"put item", "PUT", "/items/42", `{"name":"x"}`, alice, 200, `{"body":{"name":"x"},"by":"alice","id":"42"}`},
		{"put empty body", "PUT", "/items/7", "", alice, 200, `{"body":null,"by":"alice","id":"7"}`},
		{"put bad json", "PUT", "/items/7", `{`, alice, 400, `{"error":"bad_request","message":"body is not JSON"}`},
		{"no identity", "GET", "/me", "", nil, 401, `{"error":"unauthorized","message":"no identity from the proxy"}`},
		{"empty identity", "GET", "/me", "", map[string]string{"X-Auth-User": ""}, 401, `{"error":"unauthorized","message":"no identity from the proxy"}`},
		{"unknown path", "GET", "/nope", "", alice, 404, `{"error":"not_found","message":"no such endpoint"}`},
		{"wrong method", "POST", "/me", "", alice, 404, `{"error":"not_found","message":"no such endpoint"}`},
		{"nested item path", "PUT", "/items/1/x", "", alice, 404, `{"error":"not_found","message":"no such endpoint"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got := canon(t, b); got != canon(t, []byte(tc.wantJSON)) {
				t.Errorf("%s %s body = %s, want %s", tc.method, tc.path, got, tc.wantJSON)
			}
		})
	}
}

func canon(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	getenv := func(k string) string {
		if k == "DEMOAPI_LISTEN" {
			return "127.0.0.1:0"
		}
		return ""
	}
	go func() { errc <- run(ctx, nil, getenv, io.Discard, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		t.Fatalf("run: %v", err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/me", nil)
	req.Header.Set("X-Auth-User", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /me = %d, want 200", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
}

func TestRunBadFlag(t *testing.T) {
	err := run(context.Background(), []string{"-nope"}, func(string) string { return "" }, io.Discard, nil)
	if err == nil {
		t.Errorf("run(-nope) = nil, want an error")
	}
}
