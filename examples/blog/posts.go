package blog

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed posts/*.txt
var postFS embed.FS

// postOrder lists the posts of the index, by slug (the file names).
var postOrder = []string{"reading-in-company", "streams-without-state", "presence-as-a-crdt"}

// Post is one blog post.
type Post struct {
	Slug       string
	Title      string
	Paragraphs []string
}

// Words returns the post's word count.
func (p Post) Words() int {
	n := 0
	for _, para := range p.Paragraphs {
		n += len(strings.Fields(para))
	}
	return n
}

// loadPosts reads the embedded posts: the first line is the title, then
// paragraphs separated by blank lines.
func loadPosts() ([]Post, error) {
	out := make([]Post, 0, len(postOrder))
	for _, slug := range postOrder {
		raw, err := postFS.ReadFile("posts/" + slug + ".txt")
		if err != nil {
			return nil, fmt.Errorf("blog: %w", err)
		}
		title, body, _ := strings.Cut(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n")
		p := Post{Slug: slug, Title: strings.TrimSpace(title)}
		for para := range strings.SplitSeq(body, "\n\n") {
			if para = strings.TrimSpace(para); para != "" {
				p.Paragraphs = append(p.Paragraphs, para)
			}
		}
		if p.Title == "" || len(p.Paragraphs) == 0 {
			return nil, fmt.Errorf("blog: post %s is empty", slug)
		}
		out = append(out, p)
	}
	return out, nil
}
