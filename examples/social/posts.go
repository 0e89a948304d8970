package social

import (
	"strconv"
	"time"
)

// Post is one post of the timeline.
type Post struct {
	ID       int64  `json:"id"`
	Author   string `json:"author"`
	Text     string `json:"text"`
	Location string `json:"location"`
	// Relevance is the data science team's score, 0 to 100 (%).
	Relevance int `json:"relevance"`
	// At is when it was posted, in Unix milliseconds.
	At int64 `json:"at"`
}

// DOMID is the DOM id of a post.
func DOMID(p Post) string { return "posts-" + strconv.FormatInt(p.ID, 10) }

// Class is the post's CSS class: "post high" from 90 % relevance.
func (p Post) Class() string {
	if p.Relevance >= 90 {
		return "post high"
	}
	return "post"
}

// Time formats when the post was made, as the page shows it.
func (p Post) Time() string { return time.UnixMilli(p.At).UTC().Format("15:04:05") }

var authors = []string{
	"romeo", "juliet", "mercutio", "benvolio", "tybalt", "nurse", "friar_laurence",
	"hamlet", "ophelia", "horatio", "lady_macbeth", "banquo", "puck", "viola", "portia",
}

var locations = []string{
	"Verona", "Mantua", "Elsinore", "Inverness", "Dunsinane", "Athens", "Illyria",
	"Venice", "Belmont", "the Forest of Arden",
}

var quotes = []string{
	"But soft, what light through yonder window breaks?",
	"A plague o' both your houses!",
	"Parting is such sweet sorrow.",
	"These violent delights have violent ends.",
	"Wisely and slow; they stumble that run fast.",
	"What's in a name? That which we call a rose by any other word would smell as sweet.",
	"To be, or not to be, that is the question.",
	"Something is rotten in the state of Denmark.",
	"There is nothing either good or bad, but thinking makes it so.",
	"Out, damned spot! Out, I say!",
	"Fair is foul, and foul is fair.",
	"Tomorrow, and tomorrow, and tomorrow, creeps in this petty pace from day to day.",
	"Lord, what fools these mortals be!",
	"The course of true love never did run smooth.",
	"If music be the food of love, play on.",
	"The quality of mercy is not strained.",
	"All that glisters is not gold.",
	"All the world's a stage, and all the men and women merely players.",
	"Now is the winter of our discontent.",
	"We know what we are, but know not what we may be.",
}

// newPost makes up a post (without ID and time).
func (a *App) newPost() Post {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Post{
		Author:    authors[a.rnd.IntN(len(authors))],
		Text:      quotes[a.rnd.IntN(len(quotes))],
		Location:  locations[a.rnd.IntN(len(locations))],
		Relevance: a.rnd.IntN(101),
	}
}
