package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tests := []struct {
		args   []string
		wantOK bool
	}{
		{[]string{srv.URL + "/healthz"}, true},
		{[]string{srv.URL + "/other"}, false},
		{[]string{"http://127.0.0.1:1/"}, false},
		{nil, false},
		{[]string{"a", "b"}, false},
	}
	for _, tc := range tests {
		if err := check(tc.args); (err == nil) != tc.wantOK {
			t.Errorf("check(%q) = %v, want ok=%v", tc.args, err, tc.wantOK)
		}
	}
}
