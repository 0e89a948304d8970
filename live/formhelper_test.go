package live

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFormUsedTracking(t *testing.T) {
	// what the client sends on a phx-change after the user typed in
	// email only: name comes with its _unused_ companion
	params, err := DecodeForm("user[_unused_name]=&user[name]=&user[email]=a%40b&user[tags][]=x&user[tags][]=y")
	if err != nil {
		t.Fatal(err)
	}
	f := NewForm("user", params["user"].(map[string]any))
	if f.Value("name") == "" {
		f.AddError("name", "can't be blank")
	}
	f.AddError("email", "is taken")
	name, email, tags := f.Field("name"), f.Field("email"), f.Field("tags")
	if name.Used || name.Errors != nil || name.Name != "user[name]" || name.ID != "user_name" {
		t.Errorf("untouched name: %+v", name)
	}
	if !email.Used || !reflect.DeepEqual(email.Errors, []string{"is taken"}) || email.Value != "a@b" {
		t.Errorf("touched email: %+v", email)
	}
	if !reflect.DeepEqual(tags.Values, []string{"x", "y"}) || tags.Value != "x" {
		t.Errorf("tags: %+v", tags)
	}
	if f.Valid() || !reflect.DeepEqual(f.Errors("name"), []string{"can't be blank"}) {
		t.Errorf("errors: %v", f.errors)
	}
	// a submit sends no _unused_ keys: every field is used
	sub := NewForm("user", map[string]any{"name": "", "email": "a@b"})
	sub.AddError("name", "can't be blank")
	if got := sub.Field("name"); !got.Used || len(got.Errors) != 1 {
		t.Errorf("submitted name: %+v", got)
	}
	// absent fields are unused; the zero form is empty
	var z Form
	if z.Used("x") || z.Value("x") != "" || z.Values("x") != nil || !z.Valid() {
		t.Error("zero form")
	}
	if top := NewForm("", map[string]any{"q": "go"}).Field("q"); top.Name != "q" || top.ID != "q" || !top.Used {
		t.Errorf("top-level field: %+v", top)
	}
}

func TestDecodeFormLimits(t *testing.T) {
	many := strings.Repeat("f=1&", MaxFormFields)
	if _, err := DecodeForm(many); err != nil {
		t.Errorf("%d fields: %v", MaxFormFields, err)
	}
	if _, err := DecodeForm(many + "g=2"); !errors.Is(err, ErrBadForm) || !strings.Contains(err.Error(), "more than 10000 fields") {
		t.Errorf("too many fields: %v", err)
	}
	if _, err := DecodeForm("v=" + strings.Repeat("a", MaxFormValue)); err != nil {
		t.Errorf("1 MiB value: %v", err)
	}
	if _, err := DecodeForm("v=" + strings.Repeat("a", MaxFormValue+1)); !errors.Is(err, ErrBadForm) {
		t.Errorf("value over 1 MiB: %v", err)
	}
	if _, err := DecodeForm("v=" + strings.Repeat("%41", MaxFormValue+1)); !errors.Is(err, ErrBadForm) {
		t.Errorf("escaped value over 1 MiB: %v", err)
	}
	if _, err := DecodeForm("a" + strings.Repeat("[b]", 1000) + "=1"); !errors.Is(err, ErrBadForm) {
		t.Errorf("deep nesting: %v", err)
	}
}
