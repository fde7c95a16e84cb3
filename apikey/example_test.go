package apikey_test

import (
	"fmt"
	"regexp"

	"github.com/example/sso/apikey"
)

func ExampleValid() {
	key, id, hash, err := apikey.Generate()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(key), len(id), len(hash))
	fmt.Println(apikey.Valid(key), apikey.Valid(key+"0"))
	fmt.Println(regexp.MustCompile(apikey.Pattern).MatchString("token=" + key + ";"))
	// Output:
	// 53 16 64
	// true false
	// true
}
