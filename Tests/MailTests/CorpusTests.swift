import Core
import Foundation
import Mail
import Testing

/// Each message of the corpus with what must be read from it.
@Suite("Message corpus")
struct CorpusTests {
    @Test("Apple Mail: alternative of plain text and HTML halves around an inline PDF")
    func appleInlinePDF() throws {
        let parsed = try Corpus.parse("apple-inline-pdf.eml")
        let message = parsed.message
        #expect(message.subject == "Invoice for March")
        #expect(message.messageID == "5F2E8C1A-1B2C-4D3E-8F9A-0B1C2D3E4F50@example.com")
        #expect(message.date == Corpus.date("2026-03-03T08:14:27Z"))
        #expect(message.from == [MailAddress(name: "Ada Lovelace", address: "ada@example.com")])
        #expect(message.to == [MailAddress(address: "billing@astralis.example")])
        #expect(message.returnPath == "ada@example.com")
        #expect(message.text == "Hello,\n\nplease find the invoice attached.\n\nViele Grüße\nAda")
        #expect(message.textSource == .plain)
        #expect(message.defects.isEmpty, "\(message.defects)")
        // Content-Type lives on the MIME part in GMime; it is still listed where it was written.
        #expect(message.headers.prefix(3).map(\.name) == ["Return-Path", "From", "Content-Type"])
        #expect(message.header("content-type")?.hasPrefix("multipart/alternative") == true)
        #expect(message.header("X-Mailer") == "Apple Mail (2.3774.600.62)")

        try #require(parsed.attachments.count == 1)
        let pdf = parsed.attachments[0]
        #expect(pdf.metadata == MessageAttachment(
            filename: "Rechnung März.pdf", declaredType: "application/pdf", size: Corpus.pdf.count,
            sha256: Corpus.sha256(Corpus.pdf), disposition: .inline, contentID: nil, partPath: "2.2"
        ))
        #expect(pdf.data == Corpus.pdf)
        #expect(message.attachments == parsed.attachments.map(\.metadata))
    }

    @Test("Outlook: mixed › related › alternative, inline image by Content-ID, winmail.dat, docx")
    func outlookRelated() throws {
        let parsed = try Corpus.parse("outlook-related.eml")
        let message = parsed.message
        #expect(message.subject == "AW: Angebot für Wartung")
        #expect(message.from == [MailAddress(name: "Müller, Hans", address: "hans.mueller@contoso.example")])
        #expect(message.to == [MailAddress(name: "Billing Team", address: "billing@astralis.example"), MailAddress(address: "ops@astralis.example")])
        #expect(message.cc == [MailAddress(name: "Élodie Dupont", address: "elodie@contoso.example")])
        #expect(message.inReplyTo == ["quote-4711@astralis.example"])
        #expect(message.references == ["quote-4711@astralis.example"])
        #expect(message.date == Corpus.date("2026-03-04T08:01:00Z"))
        #expect(message.text == "Guten Tag,\n\nanbei unser Angebot für die Wartung.\n\nMit freundlichen Grüßen\nHans Müller")
        #expect(message.textSource == .plain)
        #expect(message.defects.isEmpty, "\(message.defects)")
        #expect(message.header("Received")?.contains("(10.0.0.5) by EXCH02.contoso.example (10.0.0.6)") == true, "unfolded")
        #expect(message.headers.map(\.name) == [
            "Received", "From", "To", "CC", "Subject", "Thread-Topic", "Thread-Index", "Date", "Message-ID", "In-Reply-To", "References",
            "Accept-Language", "Content-Language", "X-MS-Has-Attach", "X-MS-TNEF-Correlator", "Content-Type", "MIME-Version",
        ], "every top-level header, in the order written")

        #expect(message.attachments == [
            MessageAttachment(filename: "image001.png", declaredType: "image/png", size: Corpus.png.count, sha256: Corpus.sha256(Corpus.png),
                              disposition: .inline, contentID: "image001.png@01DA6E2B.5C3F1A20", partPath: "1.2"),
            MessageAttachment(filename: "winmail.dat", declaredType: "application/ms-tnef", size: Corpus.tnef.count, sha256: Corpus.sha256(Corpus.tnef),
                              disposition: .attachment, partPath: "2"),
            MessageAttachment(filename: "Angebot 2026-17.docx", declaredType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                              size: Corpus.docx.count, sha256: Corpus.sha256(Corpus.docx), disposition: .attachment, partPath: "3"),
        ])
        #expect(parsed.attachments.map(\.data) == [Corpus.png, Corpus.tnef, Corpus.docx])
    }

    @Test("forwarded message/rfc822: the attachment inside is found, the outer text is the body")
    func forwardedMessage() throws {
        let parsed = try Corpus.parse("forwarded-rfc822.eml")
        #expect(parsed.message.subject == "Fwd: Invoice 2026-0042")
        #expect(parsed.message.text == "See the forwarded invoice below.")
        #expect(parsed.message.date == Corpus.date("2026-03-05T22:45:00Z"))
        #expect(parsed.message.attachments == [
            MessageAttachment(filename: "invoice-2026-0042.pdf", declaredType: "application/pdf", size: Corpus.invoice.count,
                              sha256: Corpus.sha256(Corpus.invoice), disposition: .attachment, partPath: "2.2"),
        ])
        #expect(parsed.attachments.first?.data == Corpus.invoice)
        #expect(parsed.message.defects.isEmpty, "\(parsed.message.defects)")
    }

    @Test("iso-8859-1: quoted-printable body, encoded subject and display name")
    func latin1() throws {
        let message = try Corpus.parse("iso-8859-1.eml").message
        #expect(message.subject == "Café crème à la carte")
        #expect(message.from.first?.name == "François Trépanier")
        #expect(message.text == "Bonjour,\n\nle café crème coûte 3,50 £ à la carte.\nÀ bientôt")
        #expect(message.defects.isEmpty, "\(message.defects)")
    }

    @Test("windows-1252: 8-bit body with typographic quotes and the euro sign")
    func windows1252() throws {
        let message = try Corpus.parse("windows-1252.eml").message
        #expect(message.subject == "€ 100 – invoice")
        #expect(message.text == "„Quote“: € 100 – due “now”…")
        #expect(message.defects.isEmpty, "\(message.defects)")
    }

    @Test("Shift_JIS body, ISO-2022-JP headers, RFC 2231 filename continuations")
    func shiftJIS() throws {
        let parsed = try Corpus.parse("shift-jis.eml")
        #expect(parsed.message.subject == "請求書の送付")
        #expect(parsed.message.from == [MailAddress(name: "山田太郎", address: "yamada@example.jp")])
        #expect(parsed.message.text == "いつもお世話になっております。\n請求書を送付します。")
        #expect(parsed.message.attachments == [
            MessageAttachment(filename: "日本語 report.pdf", declaredType: "application/pdf", size: Corpus.report.count,
                              sha256: Corpus.sha256(Corpus.report), disposition: .attachment, partPath: "2"),
        ])
        #expect(parsed.message.defects.isEmpty, "\(parsed.message.defects)")
    }

    @Test("koi8-r: 8-bit Cyrillic body and base64-encoded headers")
    func koi8r() throws {
        let message = try Corpus.parse("koi8-r.eml").message
        #expect(message.subject == "Счёт на оплату")
        #expect(message.from.first?.name == "Иван Петров")
        #expect(message.text == "Привет, мир!\nСчёт во вложении.")
        #expect(message.defects.isEmpty, "\(message.defects)")
    }

    @Test("filenames: RFC 2231 percent-encoded latin-1, RFC 2047 in quotes, a path is cut to its last component")
    func filenames() throws {
        let parsed = try Corpus.parse("filenames.eml")
        #expect(parsed.message.text == "Three files attached.")
        #expect(parsed.message.attachments.map(\.filename) == ["Kostenübersicht (2026).csv", "Übersicht Q1.xlsx", "passwd"])
        #expect(parsed.message.attachments.map(\.declaredType) == ["text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/octet-stream"])
        #expect(parsed.message.attachments.map(\.sha256) == [Corpus.sha256(Corpus.csv), Corpus.sha256(Corpus.xlsx), Corpus.sha256(Corpus.bytes("root:x:0:0"))])
        #expect(parsed.message.attachments.map(\.partPath) == ["2", "3", "4"])
        #expect(parsed.message.defects.isEmpty, "\(parsed.message.defects)")
    }

    @Test("HTML only: text without markup, script, style or title; entities decoded; paragraphs kept")
    func htmlOnly() throws {
        let message = try Corpus.parse("html-only.eml").message
        #expect(message.textSource == .html)
        #expect(message.subject == "Your order &amp; more", "a subject is not HTML")
        #expect(message.text == """
            Thanks for your order

            Order #1234 & invoice <PDF> for José €12 €3…

            Line one
            Line two
            Line three

            First item
            Second item

            Total\t15 EUR

            Café "Au Lait" 's &unknown; done
            """)
        #expect(message.attachments.isEmpty)
    }

    @Test("missing closing boundary: the parts are kept and the defect is recorded")
    func missingBoundary() throws {
        let parsed = try Corpus.parse("missing-boundary.eml")
        #expect(parsed.message.text == "The body text is still here.")
        #expect(parsed.message.attachments.map(\.filename) == ["scan.pdf"])
        #expect(parsed.attachments.first?.data == Corpus.pdf)
        #expect(parsed.message.defects == ["message ends before the closing boundary of a multipart (missing boundary or truncated message)"])
    }

    @Test("bad base64: what decodes is kept, the invalid characters are a defect")
    func badBase64() throws {
        let parsed = try Corpus.parse("bad-base64.eml")
        #expect(parsed.message.text == "Attachment is corrupt.")
        let attachment = try #require(parsed.attachments.first)
        #expect(attachment.metadata.filename == "data.bin")
        #expect(attachment.data.starts(with: Corpus.bytes("Hello world")))
        #expect(attachment.metadata.sha256 == Corpus.sha256(attachment.data))
        #expect(parsed.message.defects == ["part 2: base64 content has 7 invalid character(s), skipped while decoding"])
    }

    @Test("raw 8-bit headers: UTF-8 and latin-1 decoded with the fallback charsets, each a defect")
    func raw8bitHeaders() throws {
        let message = try Corpus.parse("raw-8bit-header.eml").message
        #expect(message.subject == "Rückmeldung zur Bestellung – dringend")
        #expect(message.from == [MailAddress(name: "José García", address: "jose@example.es")])
        #expect(message.text == "Grüße aus Sevilla")
        #expect(message.defects.contains("header 'From' contains unencoded 8-bit characters (decoded with fallback charsets)"), "\(message.defects)")
        #expect(message.defects.contains("header 'Subject' contains unencoded 8-bit characters (decoded with fallback charsets)"), "\(message.defects)")
        #expect(message.defects.contains("part 1: 8-bit text without a declared charset; decoded with fallback charsets"), "\(message.defects)")
        #expect(message.defects.count == 3, "\(message.defects)")
    }

    @Test("truncated file: headers, text and the partial attachment are kept")
    func truncated() throws {
        let parsed = try Corpus.parse("truncated.eml")
        #expect(parsed.message.subject == "Truncated upload")
        #expect(parsed.message.text == "Before the cut.")
        let attachment = try #require(parsed.attachments.first)
        #expect(attachment.metadata.filename == "big.pdf")
        #expect(attachment.data.count > 0 && attachment.data.count < Corpus.pdf.count * 4)
        #expect(Corpus.pdf.starts(with: attachment.data.prefix(Corpus.pdf.count)))
        #expect(parsed.message.defects == [
            "message ends before the closing boundary of a multipart (missing boundary or truncated message)",
            "part 2: base64 content ends in the middle of a group (truncated?)",
        ])
    }

    @Test("empty file: an empty message with one defect, no crash")
    func empty() throws {
        let parsed = try MessageParser().parse(Data())
        #expect(parsed.message == Message(defects: ["message is empty"], size: 0))
        #expect(parsed.attachments.isEmpty)
        #expect(try Corpus.parse("empty.eml") == parsed)
    }

    @Test("bounce: multipart/report with delivery status and the original message")
    func bounce() throws {
        let parsed = try Corpus.parse("bounce.eml")
        let message = parsed.message
        #expect(message.from == [MailAddress(name: "Mail Delivery System", address: "MAILER-DAEMON@mx.astralis.example")])
        #expect(message.returnPath == "", "Return-Path: <> is the null sender")
        #expect(message.header("Auto-Submitted") == "auto-replied")
        #expect(message.date == Corpus.date("2026-03-15T10:00:05Z"))
        #expect(message.text?.hasPrefix("This is the mail system at host mx.astralis.example.") == true)
        #expect(message.text?.hasSuffix("<nobody@nowhere.example>: host nowhere.example said: 550 5.1.1 User unknown") == true)
        #expect(message.text?.contains("Please pay.") == false, "the original message is not the bounce's text")
        #expect(message.attachments.map(\.declaredType) == ["message/delivery-status"])
        #expect(message.attachments.map(\.partPath) == ["2"])
        let status = try #require(parsed.attachments.first)
        #expect(String(decoding: status.data, as: UTF8.self).contains("Status: 5.1.1"))
        #expect(message.defects.isEmpty, "\(message.defects)")
    }

    @Test("auto-reply: Auto-Submitted and threading headers")
    func autoReply() throws {
        let message = try Corpus.parse("auto-reply.eml").message
        #expect(message.subject == "Automatische Antwort: Ihre Anfrage – Termin")
        #expect(message.header("Auto-Submitted") == "auto-replied")
        #expect(message.header("Precedence") == "auto_reply")
        #expect(message.header("X-Autoreply") == "yes")
        #expect(message.inReplyTo == ["request-9@astralis.example"])
        #expect(message.references == ["thread-1@astralis.example", "request-9@astralis.example"])
        #expect(message.to == [MailAddress(name: "Astralis Billing", address: "billing@astralis.example")])
        #expect(message.text == "Ich bin bis 20. März nicht im Büro.")
        #expect(message.defects.isEmpty, "\(message.defects)")
    }

    @Test("mailing list: List-* headers, Precedence, an empty group, quoted names with commas")
    func mailingList() throws {
        let message = try Corpus.parse("mailing-list.eml").message
        #expect(message.header("List-Id") == "Developers <dev.lists.example.org>")
        #expect(message.header("List-Unsubscribe") == "<mailto:dev-leave@lists.example.org>, <https://lists.example.org/unsubscribe/dev>")
        #expect(message.header("Precedence") == "list")
        #expect(message.to.isEmpty, "undisclosed-recipients:; has no members")
        #expect(message.cc == [MailAddress(address: "dev@lists.example.org"), MailAddress(name: "Doe, Jane", address: "jane@example.org")])
        #expect(message.replyTo == [MailAddress(address: "dev@lists.example.org")])
        #expect(message.returnPath == "dev-bounces+contact=astralis.example@lists.example.org")
        #expect(message.date == Corpus.date("2026-03-17T21:00:00Z"))
        #expect(message.text == "Let's plan the release.")
        #expect(message.defects.isEmpty, "\(message.defects)")
    }

    @Test("unreadable Date: nil and a defect, the rest of the message is read")
    func badDate() throws {
        let message = try Corpus.parse("bad-date.eml").message
        #expect(message.date == nil)
        #expect(message.header("Date") == "yesterday at noon, probably")
        #expect(message.defects == ["Date header cannot be read: 'yesterday at noon, probably'"])
        #expect(message.subject == "Bad date")
        #expect(message.text == "The Date header cannot be read.")
    }

    @Test("text without a header block is kept as the body")
    func noHeaders() throws {
        let parsed = try MessageParser().parse(Data("hello world\nthis is not a message\n".utf8))
        #expect(parsed.message.text == "hello world\nthis is not a message")
        #expect(parsed.message.defects.contains("no RFC 5322 header block found; the bytes were read as a plain-text body"), "\(parsed.message.defects)")
    }

    @Test("the corpus has at least the 18 messages the tests above read")
    func corpusComplete() {
        #expect(Corpus.names.count >= 18, "\(Corpus.names)")
    }
}

/// Structures the corpus files do not cover, written inline.
@Suite("MIME structure")
struct StructureTests {
    static func parse(_ text: String) throws -> ParsedMessage {
        try MessageParser().parse(Data(text.utf8))
    }

    @Test("a forward with no text of its own: the embedded message's text is the body")
    func nestedTextFallback() throws {
        let parsed = try Self.parse("""
            From: a@example.com
            Subject: Fwd
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="o"

            --o
            Content-Type: message/rfc822

            From: b@example.com
            Subject: inner

            The inner text.
            --o--

            """)
        #expect(parsed.message.text == "The inner text.")
        #expect(parsed.message.textSource == .plain)
        #expect(parsed.message.attachments.isEmpty)
    }

    @Test("multipart/related: the root named by start is the body, the others are inline parts")
    func relatedStart() throws {
        let parsed = try Self.parse("""
            From: a@example.com
            MIME-Version: 1.0
            Content-Type: multipart/related; boundary="r"; start="<root@x>"

            --r
            Content-Type: image/gif
            Content-ID: <logo@x>
            Content-Transfer-Encoding: base64

            R0lGODlhAQABAAAAACw=
            --r
            Content-Type: text/html; charset=utf-8
            Content-ID: <root@x>

            <p>Root <img src="cid:logo@x"> text</p>
            --r--

            """)
        #expect(parsed.message.text == "Root text")
        #expect(parsed.message.textSource == .html)
        #expect(parsed.message.attachments.map(\.contentID) == ["logo@x"])
        #expect(parsed.message.attachments.map(\.disposition) == [.inline], "no Content-Disposition but a Content-ID: inline")
        #expect(parsed.message.defects.isEmpty, "\(parsed.message.defects)")
    }

    @Test("a multipart without a boundary: its content is kept as text, with defects")
    func multipartWithoutBoundary() throws {
        let parsed = try Self.parse("""
            From: a@example.com
            Subject: nb
            MIME-Version: 1.0
            Content-Type: multipart/mixed

            Hello, this body has no boundary.

            """)
        #expect(parsed.message.text == "Hello, this body has no boundary.")
        #expect(parsed.message.defects == [
            "a multipart has no boundary parameter (its body is read as one part)",
            "the top-level multipart has no parts; its content was kept as plain text",
        ])
    }

    @Test("an unknown charset and a wrong one fall back to the best guess, with defects")
    func charsetFallbacks() throws {
        let latin1 = Data("Content-Type: text/plain; charset=x-no-such-charset\nSubject: c\n\nCaf".utf8) + Data([0xE9]) + Data("\n".utf8)
        let unknown = try MessageParser().parse(latin1).message
        #expect(unknown.text == "Café")
        #expect(unknown.defects == ["part 1: unknown charset 'x-no-such-charset'; decoded with fallback charsets"])

        let wrong = Data("Content-Type: text/plain; charset=us-ascii\nSubject: c\n\nCaf".utf8) + Data([0xE9]) + Data("\n".utf8)
        let declaredASCII = try MessageParser().parse(wrong).message
        #expect(declaredASCII.text == "Café")
        #expect(declaredASCII.defects == ["part 1: text declared us-ascii is not valid us-ascii; decoded with fallback charsets"])
    }
}
