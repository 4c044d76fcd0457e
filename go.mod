module github.com/popwire/popwire

go 1.26
