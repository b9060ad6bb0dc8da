module mooring.dev/local/pause

go 1.22
