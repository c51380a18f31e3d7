import Mail
import Testing

@Suite("HTML to text")
struct HTMLTextTests {
    @Test(arguments: [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("a<br>b<br><br>c", "a\nb\n\nc"),
        ("<div>x</div><div>y</div>", "x\ny"),
        ("  lots   of\n\n  space  ", "lots of space"),
        ("<SCRIPT>alert('<b>')</SCRIPT>after", "after"),
        ("<style>p { x: '</p>' }</style>text", "text"),
        ("<script>never closed <p>gone", ""),
        ("<!-- <p>comment</p> -->kept", "kept"),
        ("&lt;b&gt; &amp;amp; &#65;&#x42; &#150; &#0; &bogus; & alone", "<b> &amp; AB – \u{FFFD} &bogus; & alone"),
        ("<a href=\"x?a=1&b=2\" title='a > b'>link</a> text", "link text"),
        ("<pre>  keep\n    this</pre>", "keep\n    this"),
        ("<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>", "A\tB\n1\t2"),
        ("x < y and y > z", "x < y and y > z"),
        ("<ul><li>one<li>two</ul>end", "one\ntwo\n\nend"),
    ])
    func converts(html: String, text: String) {
        #expect(HTMLText.plainText(html) == text)
    }
}
