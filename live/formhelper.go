package live

import (
	"fmt"
	"strings"
)

// Form is a form's state for templates, over the params the browser sent
// (phx-change, phx-submit): per-field values, errors and "used" tracking.
// A field the user has not interacted with yet is not used, and its errors
// are not shown, with the semantics of LiveView's used_input?: the client
// sends such a field along with an "_unused_<field>" companion.
//
//	f := live.NewForm("user", e.Map("user"))
//	if f.Value("email") == "" { f.AddError("email", "can't be blank") }
//	s.Assign("Form", f)
//
//	{{with .Form.Field "email"}}<input name="{{.Name}}" id="{{.ID}}" value="{{.Value}}">
//	{{range .Errors}}<p class="error">{{.}}</p>{{end}}{{end}}
//
// The zero Form (or NewForm(name, nil)) is an empty, untouched form. Form
// is a value: AddError changes the receiver only, so assign the form after
// validating it.
type Form struct {
	name   string
	params map[string]any
	errors map[string][]string
}

// FormField is one field of a [Form], ready for a template.
type FormField struct {
	// Name is the input's name attribute ("user[email]"); ID its id
	// ("user_email").
	Name, ID string
	// Value is the submitted value ("" when absent; the first of a list).
	Value string
	// Values holds every value of a list field (multi-select, checkbox
	// group: name "user[tags][]").
	Values []string
	// Used reports whether the user interacted with the field.
	Used bool
	// Errors are the field's errors when it is used, else nil.
	Errors []string
}

// NewForm returns the form name over params, the decoded params of that
// name (Event.Map(name)); name "" means params are top-level fields.
func NewForm(name string, params map[string]any) Form {
	if params == nil {
		params = map[string]any{}
	}
	return Form{name: name, params: params}
}

// FormOf returns the form name of a form event.
func FormOf(e Event, name string) Form {
	if name == "" {
		return NewForm("", e.Params)
	}
	return NewForm(name, e.Map(name))
}

// Name returns the form's name.
func (f Form) Name() string { return f.name }

// Params returns the submitted params of the form.
func (f Form) Params() map[string]any { return f.params }

// Value returns the field's value ("" when absent; the first of a list).
func (f Form) Value(field string) string {
	switch v := f.params[field].(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			s, _ := v[0].(string)
			return s
		}
	}
	return ""
}

// Values returns every value of a list field (or the one value of a
// scalar field).
func (f Form) Values(field string) []string {
	switch v := f.params[field].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Used reports whether the user interacted with field: it was sent and
// without its "_unused_" companion (upstream's used_input?). Every field of
// a submitted form counts as used.
func (f Form) Used(field string) bool {
	if _, unused := f.params["_unused_"+field]; unused {
		return false
	}
	_, ok := f.params[field]
	return ok
}

// AddError adds an error message to field.
func (f *Form) AddError(field, msg string) {
	if f.errors == nil {
		f.errors = map[string][]string{}
	}
	f.errors[field] = append(f.errors[field], msg)
}

// Errors returns field's errors, whether used or not.
func (f Form) Errors(field string) []string { return f.errors[field] }

// Valid reports whether no field has errors.
func (f Form) Valid() bool { return len(f.errors) == 0 }

// Field returns field, ready for a template.
func (f Form) Field(field string) FormField {
	ff := FormField{
		Name:   field,
		ID:     field,
		Value:  f.Value(field),
		Values: f.Values(field),
		Used:   f.Used(field),
	}
	if f.name != "" {
		ff.Name = fmt.Sprintf("%s[%s]", f.name, field)
		ff.ID = f.name + "_" + field
	}
	ff.ID = strings.NewReplacer("[", "_", "]", "_").Replace(ff.ID)
	if ff.Used {
		ff.Errors = f.errors[field]
	}
	return ff
}
