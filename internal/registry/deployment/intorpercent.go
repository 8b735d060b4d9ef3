package deployment

import (
	"strconv"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePositiveIntOrPercent checks that v is a non-negative integer or
// a percentage such as "25%".
func ValidatePositiveIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(fldPath, v, msg))
		}
		return errs
	case intstr.Int:
		return apivalidation.ValidateNonnegativeField(int64(v.IntValue()), fldPath)
	default:
		return field.ErrorList{field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')")}
	}
}

// IsNotMoreThan100Percent rejects a percentage above 100%; integers and
// malformed percentages pass (ValidatePositiveIntOrPercent reports those).
func IsNotMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if percent, ok := percentValue(v); ok && percent > 100 {
		return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
	}
	return nil
}

// IntOrPercentValue is the number in v, whether v is an integer or a
// percentage: 25 for both 25 and "25%". A malformed value counts as 0.
func IntOrPercentValue(v intstr.IntOrString) int {
	if percent, ok := percentValue(v); ok {
		return percent
	}
	if v.Type == intstr.Int {
		return v.IntValue()
	}
	return 0
}

func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	percent, err := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return percent, err == nil
}
