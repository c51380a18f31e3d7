import Core
import Foundation
import Inbound
import Logging
import Testing

@Suite("Invoice amounts, dates, IBAN")
struct InvoiceFormatTests {
    @Test(arguments: [
        ("1,234.56", 1234.56), ("1.234,56", 1234.56), ("1 234,56", 1234.56), ("1'234.56", 1234.56), ("1234,56", 1234.56),
        ("1234.56", 1234.56), ("1\u{00A0}234,56", 1234.56), ("1\u{202F}234,56", 1234.56), ("12.345.678,90", 12_345_678.90),
        ("1,234,567.89", 1_234_567.89), ("-12.50", -12.5), ("0,5", 0.5), ("42", 42), ("1’234.00", 1234),
    ])
    func amounts(token: String, value: Double) {
        #expect(InvoiceAmount.parse(token) == value)
    }

    @Test func ambiguousThousands() {
        // A lone separator before three digits: the document's decimal separator decides.
        #expect(InvoiceAmount.parse("1.234", decimalSeparator: ",") == 1234)
        #expect(InvoiceAmount.parse("1,234", decimalSeparator: ".") == 1234)
        #expect(InvoiceAmount.parse("1.234", decimalSeparator: ".") == 1.234)
        #expect(InvoiceAmount.parse("1,23,4") == nil)
        #expect(InvoiceAmount.parse("12a") == nil)
        #expect(InvoiceAmount.parse("") == nil)
    }

    @Test(arguments: [
        ("31.12.2025", "2025-12-31"), ("2025-12-31", "2025-12-31"), ("31/12/2025", "2025-12-31"), ("31-12-2025", "2025-12-31"),
        ("December 31, 2025", "2025-12-31"), ("Dec 31st, 2025", "2025-12-31"), ("31 Dec 2025", "2025-12-31"),
        ("31. Dezember 2025", "2025-12-31"), ("3. März 2025", "2025-03-03"), ("31 déc. 2025", "2025-12-31"),
        ("1er janvier 2025", "2025-01-01"), ("5 févr. 2025", "2025-02-05"), ("31 de diciembre de 2025", "2025-12-31"),
        ("15 de agosto de 2025", "2025-08-15"), ("31 december 2025", "2025-12-31"), ("7 mrt 2025", "2025-03-07"),
        ("31 dicembre 2025", "2025-12-31"), ("2 gennaio 2025", "2025-01-02"), ("31.12.25", "2025-12-31"),
    ])
    func dates(text: String, iso: String) {
        #expect(InvoiceDate.parse(text) == iso)
    }

    @Test func numericDateOrder() {
        #expect(InvoiceDate.parse("03/04/2025", order: .dayMonth) == "2025-04-03")
        #expect(InvoiceDate.parse("03/04/2025", order: .monthDay) == "2025-03-04")
        // Dotted dates are day first whatever the order.
        #expect(InvoiceDate.parse("03.04.2025", order: .monthDay) == "2025-04-03")
        #expect(InvoiceDate.parse("31/02/2025") == nil)
        #expect(InvoiceDate.parse("13/13/2025") == nil)
    }

    @Test func dateOrderFromTheDocument() {
        // 04/05 alone is ambiguous; the due date 05/20 settles month first, even in a EUR document.
        let text = "INVOICE\nInvoice Date: 04/05/2025\nDue Date: 05/20/2025\nTotal EUR 10.00\n"
        let extraction = InvoiceExtractor.extract(text: text)
        #expect(extraction[.issueDate]?.value == .string("2025-04-05"))
        #expect(extraction[.dueDate]?.value == .string("2025-05-20"))
        // Day first: 20/05 settles it for the other date.
        let dayFirst = InvoiceExtractor.extract(text: "FACTURE\nDate de facture : 04/05/2025\nDate d'échéance : 20/05/2025\n")
        #expect(dayFirst[.issueDate]?.value == .string("2025-05-04"))
        // Nothing settles it: a US-dollar English invoice is month first, a French one day first.
        let us = InvoiceExtractor.extract(text: "INVOICE\nDate: 04/05/2025\nTotal $100.00\n")
        #expect(us[.issueDate]?.value == .string("2025-04-05"))
        let hinted = InvoiceExtractor.extract(text: "INVOICE\nDate: 04/05/2025\nTotal 100.00\n", hints: InvoiceExtractionHints(dateOrder: .monthDay))
        #expect(hinted[.issueDate]?.value == .string("2025-04-05"))
    }

    @Test func iban() {
        #expect(IBAN.isValid("DE89370400440532013000"))
        #expect(IBAN.isValid("GB29NWBK60161331926819"))
        #expect(IBAN.isValid("FR1420041010050500013M02606"))
        #expect(!IBAN.isValid("DE89370400440532013001"))  // check digits fail
        #expect(!IBAN.isValid("DE8937040044053201300"))  // too short for DE
        #expect(!IBAN.isValid("de89370400440532013000"))
        let extraction = InvoiceExtractor.extract(text: "Bankverbindung\nIBAN: DE89 3704 0044 0532 0130 00  BIC: COBADEFFXXX\n")
        #expect(extraction[.iban]?.value == .string("DE89370400440532013000"))
        #expect(extraction[.iban]?.span?.snippet == "DE89 3704 0044 0532 0130 00")
        #expect(extraction[.bic]?.value == .string("COBADEFFXXX"))
        // A typo in the number: not reported as an IBAN.
        let wrong = InvoiceExtractor.extract(text: "IBAN: DE89 3704 0044 0532 0130 01\n")
        #expect(wrong[.iban] == nil)
        // OCR's O for 0 is repaired when the checksum then holds.
        let ocr = InvoiceExtractor.extract(text: "IBAN DE89 37O4 0044 0532 0130 00\n")
        #expect(ocr[.iban]?.value == .string("DE89370400440532013000"))
    }

    @Test(arguments: [
        ("Total: €1,234.56", "EUR"), ("Gesamtbetrag 1.234,56 EUR", "EUR"), ("TOTAL £12.00", "GBP"), ("Total $5.00", "USD"),
        ("Total CHF 1'234.50", "CHF"), ("Totale 12,00 €", "EUR"),
    ])
    func currency(line: String, code: String) {
        #expect(InvoiceExtractor.extract(text: "INVOICE\n" + line + "\n")[.currency]?.value == .string(code))
    }

    @Test func currencyFallsBackToTheHint() {
        let extraction = InvoiceExtractor.extract(text: "Receipt\nTotal 12.00\n", hints: InvoiceExtractionHints(defaultCurrency: "SEK"))
        #expect(extraction[.currency]?.value == .string("SEK"))
        #expect(extraction[.currency]?.source == .derived)
        #expect(InvoiceExtractor.extract(text: "Receipt\nTotal 12.00\n")[.currency] == nil)
    }
}

@Suite("Invoice classification and fields")
struct InvoiceExtractorTests {
    @Test(arguments: [
        ("INVOICE\nInvoice No. 1", DocumentKind.invoice), ("Rechnung\nRechnungsnummer 1", .invoice), ("FACTURE\nFacture n° 1", .invoice),
        ("FACTURA\nNº de factura 1", .invoice), ("FACTUUR\nFactuurnummer 1", .invoice), ("FATTURA\nFattura n. 1", .invoice),
        ("CREDIT NOTE\nCredit Note No. 1\nfor invoice INV-1", .creditNote), ("Gutschrift\nzu Rechnung 2025-1", .creditNote),
        ("AVOIR\nAvoir n° 7 sur facture 12", .creditNote), ("FACTURA RECTIFICATIVA\nNº rectificativa 3", .creditNote),
        ("CREDITNOTA\nCreditnotanummer 3", .creditNote), ("NOTA DI CREDITO\nNota di credito n. 3", .creditNote),
        ("QUOTATION\nQuote No. 5", .quote), ("Angebot\nAngebotsnummer 5", .quote), ("DEVIS\nDevis n° 5", .quote),
        ("PRESUPUESTO\nNº presupuesto 5", .quote), ("OFFERTE\nOffertenummer 5", .quote), ("PREVENTIVO\nPreventivo n. 5", .quote),
        ("ORDER CONFIRMATION\nOrder No. 9", .orderConfirmation), ("Auftragsbestätigung\nAuftragsnummer 9", .orderConfirmation),
        ("CONFIRMATION DE COMMANDE\nCommande n° 9", .orderConfirmation), ("CONFERMA D'ORDINE\nOrdine n. 9", .orderConfirmation),
        ("RECEIPT\nTOTAL 3.00\nPaid by card", .receipt), ("Kassenbon\nSUMME 3,00\nBezahlt", .receipt),
        ("TICKET DE CAISSE\nTOTAL TTC 3,00", .receipt), ("SCONTRINO\nTOTALE 3,00", .receipt),
        ("Dear Ada,\nsee you on Monday.", .other),
    ])
    func classification(text: String, kind: DocumentKind) {
        let classification = InvoiceExtractor.extract(text: text).classification
        #expect(classification.kind == kind, "\(text)")
        if kind != .other {
            #expect(!classification.evidence.isEmpty)
            #expect(classification.confidence > 0.5)
        }
    }

    static let german = """
        Müller Bürobedarf GmbH
        Industriestraße 12, 10115 Berlin
        USt-IdNr.: DE123456789

        Rechnung

        Rechnungsempfänger:                     Rechnungsnummer:   RE-2025-0042
        Globex GmbH                             Rechnungsdatum:    3. März 2025
                                                Fällig am:         02.04.2025
                                                Ihre Bestellnummer: PO-7781

        Beschreibung                 Menge      Einzelpreis        Betrag
        Kopierpapier A4                 10           4,99          49,90
        Bürostuhl                        2       1.150,00       2.300,00

                                                Nettobetrag                 2.349,90 €
                                                MwSt. 19%                     446,48 €
                                                Gesamtbetrag                2.796,38 €

        Bankverbindung: IBAN DE89 3704 0044 0532 0130 00   BIC COBADEFFXXX
        """

    @Test func germanInvoice() throws {
        let extraction = InvoiceExtractor.extract(text: Self.german)
        #expect(extraction.classification.kind == .invoice)
        #expect(extraction[.issuer]?.value == .string("Müller Bürobedarf GmbH"))
        #expect(extraction[.vatID]?.value == .string("DE123456789"))
        #expect(extraction[.invoiceNumber]?.value == .string("RE-2025-0042"))
        #expect(extraction[.issueDate]?.value == .string("2025-03-03"))
        #expect(extraction[.dueDate]?.value == .string("2025-04-02"))
        #expect(extraction[.poNumber]?.value == .string("PO-7781"))
        #expect(extraction[.currency]?.value == .string("EUR"))
        #expect(extraction[.subtotal]?.value == .number(2349.90))
        #expect(extraction[.tax]?.value == .number(446.48))
        #expect(extraction[.taxRate]?.value == .number(19))
        #expect(extraction[.total]?.value == .number(2796.38))
        #expect(extraction[.iban]?.value == .string("DE89370400440532013000"))
        #expect(extraction.lineItems.count == 2)
        let chair = try #require(extraction.lineItems.last)
        #expect(chair.description == "Bürostuhl")
        #expect(chair.quantity == 2)
        #expect(chair.unitPrice == 1150)
        #expect(chair.amount == 2300)
        // Spans point into the text and hold what was read.
        let total = try #require(extraction[.total]?.span)
        let characters = Array(Self.german)
        #expect(String(characters[total.start..<total.end]) == "2.796,38")
        #expect(total.snippet == "2.796,38")
        let number = try #require(extraction[.invoiceNumber]?.span)
        #expect(String(characters[number.start..<number.end]) == "RE-2025-0042")
        // subtotal + tax = total and tax = 19 % of subtotal: all of them are sure.
        for field in [InvoiceField.subtotal, .tax, .total, .taxRate] {
            #expect((extraction[field]?.confidence ?? 0) >= 0.9, "\(field)")
        }
    }

    @Test func inconsistentAmountsLowerConfidence() {
        let consistent = InvoiceExtractor.extract(text: "INVOICE\nSubtotal 100.00\nVAT 20% 20.00\nTotal 120.00\n")
        let inconsistent = InvoiceExtractor.extract(text: "INVOICE\nSubtotal 100.00\nVAT 20% 20.00\nTotal 150.00\n")
        #expect((consistent[.total]?.confidence ?? 0) > (inconsistent[.total]?.confidence ?? 1))
        #expect((inconsistent[.total]?.confidence ?? 1) < 0.6)
        #expect(inconsistent[.total]?.value == .number(150))
    }

    @Test func missingSubtotalIsDerived() {
        let extraction = InvoiceExtractor.extract(text: "FATTURA\nIVA 22% 22,00\nTotale 122,00 €\n")
        #expect(extraction[.subtotal]?.value == .number(100))
        #expect(extraction[.subtotal]?.source == .derived)
        #expect(extraction[.subtotal]?.span == nil)
        #expect(extraction[.taxRate]?.value == .number(22))
    }

    @Test func labelsThatLookAlike() {
        // "Total HT" is the subtotal, the VAT id line is no tax amount, "Bon de commande" is the PO.
        let text = """
            Dupont SARL
            N° TVA intracom. FR12345678901
            FACTURE
            Facture n° F-2025-77          Bon de commande : BC-4411
            Date de facture : 12/03/2025  Date d'échéance : 11/04/2025
            Total HT                 1 000,00 €
            TVA 20 %                   200,00 €
            Total TTC                1 200,00 €
            """
        let extraction = InvoiceExtractor.extract(text: text)
        #expect(extraction[.invoiceNumber]?.value == .string("F-2025-77"))
        #expect(extraction[.poNumber]?.value == .string("BC-4411"))
        #expect(extraction[.vatID]?.value == .string("FR12345678901"))
        #expect(extraction[.subtotal]?.value == .number(1000))
        #expect(extraction[.tax]?.value == .number(200))
        #expect(extraction[.total]?.value == .number(1200))
        #expect(extraction[.issueDate]?.value == .string("2025-03-12"))
        #expect(extraction[.dueDate]?.value == .string("2025-04-11"))
    }

    @Test func receiptItemsUnderTheirDescriptions() {
        let text = """
            Bäckerei Weber
            Kassenbon
            --------------------------------
            Brötchen
              6 x 0,45                  2,70
            Kaffee
              2 x 2,90                  5,80
            --------------------------------
            SUMME EUR                   8,50
            """
        let extraction = InvoiceExtractor.extract(text: text)
        #expect(extraction.classification.kind == .receipt)
        #expect(extraction.lineItems.map(\.description) == ["Brötchen", "Kaffee"])
        #expect(extraction.lineItems.map(\.amount) == [2.70, 5.80])
        #expect(extraction[.total]?.value == .number(8.5))
    }

    @Test func factsFields() {
        let extraction = InvoiceExtractor.extract(text: Self.german)
        let facts = extraction.facts(filename: "r.pdf", declaredType: "application/pdf", size: 10, text: Self.german)
        #expect(facts.kind == "invoice")
        guard case .object(let fields)? = facts.fields else {
            Issue.record("fields is not an object")
            return
        }
        #expect(fields["total"] == .number(2796.38))
        #expect(fields["currency"] == .string("EUR"))
        #expect(fields["issue_date"] == .string("2025-03-03"))
        #expect(fields["tax_rate"] == .number(19))
        if case .array(let items)? = fields["line_items"] { #expect(items.count == 2) } else { Issue.record("no line_items") }
        if case .object(let confidence)? = fields["confidence"] { #expect(confidence["total"] != nil) } else { Issue.record("no confidence") }
        #expect(fields["due_date"] == .string("2025-04-02"))
    }

    @Test func hostileText() {
        // Nothing in the text: no crash, no fields, kind other.
        for text in ["", "\n\n\n", String(repeating: "9", count: 5000), String(repeating: "Total 1.00 ", count: 2000), "IBAN DE", "31/31/31"] {
            let extraction = InvoiceExtractor.extract(text: text)
            #expect(extraction.fields[.iban] == nil)
        }
    }
}

/// A model that answers with a fixed object, or fails.
struct FixedFieldModel: FieldExtractionModel {
    var answer: JSONValue?

    struct Failure: Error {}

    func extractFields(text: String) async throws -> JSONValue {
        guard let answer else { throw Failure() }
        return answer
    }
}

@Suite("Invoice model merge")
struct InvoiceModelMergeTests {
    static let text = """
        Northwind Traders Ltd
        INVOICE
        Invoice No.: INV-77
        Invoice Date: 28 Feb 2025
        Subtotal  £100.00
        VAT 20%    £20.00
        Total     £120.00
        """

    static func model(_ fields: [String: JSONValue]) -> FixedFieldModel {
        var object: [String: JSONValue] = ["kind": .string("invoice")]
        for name in FieldExtractionSchema.stringFields + FieldExtractionSchema.numberFields { object[name] = .null }
        object.merge(fields) { $1 }
        return FixedFieldModel(answer: .object(object))
    }

    @Test func agreementRaisesConfidence() async {
        let local = InvoiceExtractor.extract(text: Self.text)
        let merged = await InvoiceExtractor.extract(
            text: Self.text, model: Self.model(["total": .number(120), "invoice_number": .string("INV-77"), "currency": .string("gbp")]),
            logger: Logger(label: "test"))
        #expect(merged[.total]?.source == .agreed)
        #expect((merged[.invoiceNumber]?.confidence ?? 0) > (local[.invoiceNumber]?.confidence ?? 1))
        #expect(merged[.currency]?.source == .agreed)
        #expect(merged.disagreements.isEmpty)
        #expect(merged.classification.confidence >= local.classification.confidence)
    }

    @Test func disagreementIsRecorded() async {
        let merged = await InvoiceExtractor.extract(
            text: Self.text, model: Self.model(["invoice_number": .string("INV-78"), "total": .number(99), "kind": .string("receipt")]),
            logger: Logger(label: "test"))
        let fields = Set(merged.disagreements.map(\.field))
        #expect(fields == ["invoice_number", "total", "kind"])
        // The total the document's arithmetic confirms stays; the number nothing confirms goes to the model, unsure.
        #expect(merged[.total]?.value == .number(120))
        #expect(merged[.invoiceNumber]?.value == .string("INV-78"))
        #expect((merged[.invoiceNumber]?.confidence ?? 1) < 0.5)
        #expect(merged.classification.kind == .invoice)
        if case .object(let facts) = merged.factsFields {
            #expect(facts["disagreements"] != nil)
        }
    }

    @Test func modelOnlyFieldsAndMalformedValues() async {
        let merged = await InvoiceExtractor.extract(
            text: Self.text,
            model: Self.model([
                "issuer": .string("Northwind Traders Ltd"), "due_date": .string("2025-03-14"), "po_number": .string("PO-1"),
                "iban": .string("DE00 1234"), "tax_rate": .string("twenty"),
            ]),
            logger: Logger(label: "test"))
        #expect(merged[.dueDate]?.value == .string("2025-03-14"))
        #expect(merged[.dueDate]?.source == .model)
        #expect(merged[.dueDate]?.span == nil)
        // A model-only value that is not in the text has no span.
        #expect(merged[.poNumber]?.source == .model)
        #expect(merged[.poNumber]?.span == nil)
        #expect(merged[.iban] == nil)  // fails mod-97
        #expect(merged[.taxRate]?.value == .number(20))  // the local value stays
        #expect(merged[.issuer]?.source == .agreed)
    }

    @Test func failingModelKeepsTheLocalResult() async {
        let local = InvoiceExtractor.extract(text: Self.text)
        var merged = await InvoiceExtractor.extract(text: Self.text, model: FixedFieldModel(answer: nil), logger: Logger(label: "test"))
        // The reason is recorded; everything else is the local result.
        #expect(merged.modelOutcome?.hasPrefix("failed: ") == true)
        #expect(merged.factsFields["model_outcome"]?.stringValue == merged.modelOutcome)
        merged.modelOutcome = nil
        #expect(merged == local)
        let none = await InvoiceExtractor.extract(text: Self.text, model: nil, logger: Logger(label: "test"))
        #expect(none == local)
    }

    @Test func schemaIsStrict() {
        guard case .object(let schema) = FieldExtractionSchema.jsonSchema, case .array(let required)? = schema["required"],
            case .object(let properties)? = schema["properties"]
        else {
            Issue.record("schema is not an object")
            return
        }
        #expect(schema["additionalProperties"] == .bool(false))
        #expect(required.count == properties.count)
        #expect(properties["total"] != nil && properties["kind"] != nil)
    }
}
