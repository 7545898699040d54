package storecopy

import (
	"reflect"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// canonical is a deep copy of v as every store returns it: times in UTC
// to the microsecond, empty slices and maps as nil.
func canonical(v any) any {
	src := reflect.ValueOf(v)
	dst := reflect.New(src.Type()).Elem()
	copyCanonical(dst, src)
	return dst.Interface()
}

func copyCanonical(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		if src.Type() == timeType {
			dst.Set(reflect.ValueOf(src.Interface().(time.Time).UTC().Truncate(time.Microsecond)))
			return
		}
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				copyCanonical(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Slice:
		if src.Len() == 0 {
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			copyCanonical(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.Len() == 0 {
			return
		}
		dst.Set(reflect.MakeMapWithSize(src.Type(), src.Len()))
		for _, k := range src.MapKeys() {
			v := reflect.New(src.Type().Elem()).Elem()
			copyCanonical(v, src.MapIndex(k))
			dst.SetMapIndex(k, v)
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.New(src.Type().Elem()))
		copyCanonical(dst.Elem(), src.Elem())
	default:
		dst.Set(src)
	}
}
