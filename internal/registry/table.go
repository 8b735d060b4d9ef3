package registry

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// NameColumn is the first column of every table.
var NameColumn = metav1.TableColumnDefinition{
	Name: "Name", Type: "string", Format: "name",
	Description: metav1.ObjectMeta{}.SwaggerDoc()["name"],
}

// AgeColumn is the AGE column most tables end with.
var AgeColumn = metav1.TableColumnDefinition{
	Name: "Age", Type: "string",
	Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"],
}

// Age renders how long ago t was, as kubectl shows it ("5m", "3d4h"), or
// "<unknown>" for a zero time.
func Age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// DefaultTable is the table of kinds that define none: NAME and AGE.
var DefaultTable = &Table{
	Columns: []metav1.TableColumnDefinition{NameColumn, AgeColumn},
	Row: func(obj runtime.Object) []interface{} {
		m, err := meta.Accessor(obj)
		if err != nil {
			return []interface{}{"<unknown>", "<unknown>"}
		}
		return []interface{}{m.GetName(), Age(m.GetCreationTimestamp())}
	},
}
