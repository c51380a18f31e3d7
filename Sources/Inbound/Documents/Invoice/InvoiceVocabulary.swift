/// Keywords and labels in English, German, French, Spanish, Dutch and Italian, folded (lower case,
/// no diacritics, as `InvoiceText.fold` makes them). Longer labels win over shorter ones on the
/// same line, so `total ht` (a subtotal) beats `total`, and `ust-idnr` (an id) beats `ust` (a tax).
enum InvoiceVocabulary {
    static let kinds: [(DocumentKind, [String])] = [
        (.creditNote, [
            "credit note", "credit memo", "gutschrift", "rechnungskorrektur", "stornorechnung", "avoir", "note de credit",
            "factura rectificativa", "nota de credito", "factura de abono", "creditnota", "creditfactuur", "nota di credito",
        ]),
        (.quote, [
            "quotation", "quote", "estimate", "angebot", "kostenvoranschlag", "devis", "presupuesto", "cotizacion", "offerte",
            "preventivo", "offerta",
            // Labels only a quote has, for when OCR loses the title.
            "offertenummer", "angebotsnummer", "quote no", "quotation no", "valid until", "gultig bis", "valable jusqu'au",
            "valido hasta", "geldig tot", "valido fino al",
        ]),
        (.orderConfirmation, [
            "order confirmation", "auftragsbestatigung", "bestellbestatigung", "confirmation de commande", "confirmacion de pedido",
            "orderbevestiging", "opdrachtbevestiging", "conferma d'ordine", "conferma ordine",
        ]),
        (.receipt, [
            "receipt", "sales receipt", "kassenbon", "kassenbeleg", "quittung", "ticket de caisse", "recu", "ticket", "recibo",
            "kassabon", "kassaticket", "scontrino", "ricevuta", "paid by card", "bezahlt", "paye par carte", "pagado con tarjeta",
            "betaald met pin", "pagato con carta", "cash", "change", "bar bezahlt", "rendu", "cambio", "wisselgeld", "resto",
        ]),
        (.invoice, ["invoice", "tax invoice", "rechnung", "facture", "factura", "factuur", "fattura"]),
    ]
    /// Phrases that contain a kind keyword but say nothing about the kind.
    static let kindNeutral = ["bon de commande", "invoice address", "rechnungsadresse", "rechnungsempfanger", "factuuradres"]

    static let total = [
        "grand total", "total due", "amount due", "balance due", "total amount", "invoice total", "total payable", "total", "total incl. vat",
        "gesamtbetrag", "rechnungsbetrag", "gesamtsumme", "endbetrag", "bruttobetrag", "summe", "zu zahlen", "gesamt brutto",
        "total ttc", "montant ttc", "net a payer", "montant total", "total a payer",
        "importe total", "total factura", "total a pagar", "total importe",
        "totaal", "totaalbedrag", "te betalen", "totaal incl. btw", "totaal te betalen",
        "totale", "totale documento", "totale fattura", "importo totale", "netto a pagare", "totale da pagare",
    ]
    static let subtotal = [
        "subtotal", "sub-total", "sub total", "net amount", "net total", "total net", "total excl. vat", "total before tax",
        "zwischensumme", "nettobetrag", "netto", "summe netto", "gesamt netto", "nettosumme",
        "total ht", "montant ht", "sous-total", "total hors taxes",
        "base imponible", "subtotal", "importe neto",
        "subtotaal", "totaal excl. btw", "netto bedrag", "totaal excl btw",
        "imponibile", "totale imponibile", "subtotale", "totale netto",
    ]
    static let tax = [
        "vat", "tax", "sales tax", "gst", "total vat", "total tax",
        "mwst", "mwst.", "ust", "ust.", "umsatzsteuer", "mehrwertsteuer", "zzgl. mwst", "zzgl. ust", "enthaltene mwst",
        "tva", "total tva", "montant tva",
        "iva", "total iva", "cuota iva", "igic",
        "btw", "totaal btw",
        "totale iva", "imposta",
    ]
    /// Tax-id labels and "incl. tax" phrases: lines with these are not tax-amount lines.
    static let taxMask = [
        "vat reg", "vat reg. no", "vat id", "vat no", "vat number", "vat registration", "tax id", "tax number",
        "ust-idnr", "ust-id", "ust-id-nr", "ust.-idnr", "steuernummer", "st.-nr", "ust idnr", "umsatzsteuer-id",
        "n° tva", "no tva", "numero de tva", "tva intracom", "n° tva intracom", "siret",
        "nif", "cif", "n.i.f", "c.i.f",
        "btw-nummer", "btw nummer", "btw-nr", "btw-id", "btw id", "kvk",
        "p.iva", "p. iva", "partita iva", "codice fiscale", "c.f.",
        "incl. vat", "inkl. mwst", "incl. btw", "iva incluida", "iva inclusa", "ttc", "exkl. mwst",
    ]
    static let vatIDLabels = [
        "vat reg", "vat id", "vat no", "vat number", "vat registration", "ust-idnr", "ust-id", "ust idnr", "umsatzsteuer-id",
        "n° tva", "tva intracom", "numero de tva", "nif", "cif", "btw-nummer", "btw nummer", "btw-id", "p.iva", "p. iva", "partita iva",
    ]

    static let number = [
        "invoice no", "invoice number", "invoice #", "invoice nr", "inv no", "inv. no", "invoice id", "receipt no", "receipt #",
        "receipt number", "credit note no", "credit note number", "quote no", "quote number", "quotation no", "estimate no",
        "order no", "order number", "document no", "bill no",
        "rechnungsnummer", "rechnungs-nr", "rechnung nr", "rechnungsnr", "re-nr", "bon-nr", "belegnummer", "beleg-nr",
        "gutschriftsnummer", "gutschrift nr", "angebotsnummer", "angebot nr", "angebots-nr", "auftragsnummer", "auftrags-nr",
        "auftrag nr",
        "facture n°", "facture no", "n° de facture", "numero de facture", "ticket n°", "avoir n°", "n° d'avoir", "devis n°",
        "n° de devis", "commande n°", "n° de commande", "facture n",
        "nº de factura", "n.º de factura", "numero de factura", "factura nº", "factura n.º", "factura no", "ticket nº",
        "nº rectificativa", "nº presupuesto", "presupuesto nº", "nº de pedido", "pedido nº", "no. de factura", "num. factura",
        "factuurnummer", "factuurnr", "factuur nr", "bonnummer", "creditnotanummer", "offertenummer", "ordernummer",
        "fattura n", "fattura nr", "numero fattura", "n. fattura", "scontrino n", "nota di credito n", "preventivo n",
        "ordine n", "documento n",
    ]
    static let purchaseOrder = [
        "po number", "po no", "po #", "p.o. number", "p.o. no", "purchase order", "your order", "customer order",
        "ihre bestellnummer", "bestellnummer", "bestell-nr", "ihre bestellung",
        "bon de commande", "votre commande", "ref. commande",
        "su pedido", "orden de compra", "pedido de compra", "su pedido nº",
        "uw inkoopordernummer", "inkoopordernummer", "inkooporder", "uw ordernummer", "uw order",
        "vs. ordine", "vostro ordine", "ordine d'acquisto", "ordine di acquisto", "rif. ordine",
    ]

    static let issueDate = [
        "invoice date", "date of issue", "issue date", "date", "order date", "quote date", "tax point", "dated",
        "rechnungsdatum", "datum", "belegdatum", "ausstellungsdatum", "rechnungs-datum",
        "date de facture", "date d'emission", "date de la facture",
        "fecha de emision", "fecha de factura", "fecha", "fecha factura",
        "factuurdatum", "datum factuur",
        "data fattura", "data documento", "data", "data emissione",
    ]
    static let dueDate = [
        "due date", "due", "payment due", "pay by", "payable by", "due by", "payment date",
        "fallig am", "fallig", "zahlbar bis", "falligkeitsdatum", "zahlungsziel", "zahlbar am",
        "date d'echeance", "echeance", "a payer avant le", "date limite de paiement",
        "fecha de vencimiento", "vencimiento", "fecha vencimiento",
        "vervaldatum", "uiterste betaaldatum", "te betalen voor",
        "data di scadenza", "scadenza", "data scadenza",
    ]
    /// Other dates a document carries that are neither issue nor due date.
    static let otherDates = [
        "valid until", "valid till", "delivery date", "service date", "gultig bis", "lieferdatum", "leistungsdatum",
        "valable jusqu'au", "date de livraison", "valido hasta", "fecha de entrega", "geldig tot", "leverdatum",
        "valido fino al", "data consegna", "data di consegna",
    ]

    static let columns: [[String]] = [
        ["description", "item", "article", "beschreibung", "bezeichnung", "artikel", "leistung", "designation", "descripcion",
         "concepto", "articulo", "omschrijving", "descrizione", "articolo", "product", "produit", "producto", "prodotto"],
        ["qty", "quantity", "menge", "anzahl", "qte", "quantite", "cantidad", "cant", "aantal", "quantita", "qta", "units"],
        ["unit price", "price", "rate", "einzelpreis", "preis", "prix unitaire", "prix", "p.u.", "precio", "precio unitario",
         "prijs", "prijs per stuk", "prezzo", "prezzo unitario", "stuksprijs"],
        ["amount", "total", "line total", "betrag", "gesamt", "gesamtpreis", "montant", "importe", "bedrag", "importo", "totale"],
    ]

    static let languages: [(String, [String])] = [
        ("en", ["invoice", "total", "date", "due", "thank", "description", "amount", "quantity", "qty", "vat", "subtotal", "receipt", "price", "bill to"]),
        ("de", ["rechnung", "datum", "betrag", "menge", "gesamt", "mwst", "und", "fur", "summe", "vielen", "netto", "bestell", "einzelpreis", "gutschrift", "angebot"]),
        ("fr", ["facture", "montant", "designation", "ttc", "tva", "echeance", "merci", "prix", "client", "avoir", "devis", "commande"]),
        ("es", ["factura", "fecha", "importe", "cantidad", "gracias", "precio", "descripcion", "cliente", "pedido", "presupuesto", "imponible"]),
        ("nl", ["factuur", "datum", "bedrag", "aantal", "btw", "totaal", "omschrijving", "bedankt", "prijs", "offerte", "bon"]),
        ("it", ["fattura", "data", "importo", "quantita", "totale", "grazie", "descrizione", "scadenza", "prezzo", "imponibile", "ordine"]),
    ]

    /// Currency symbols and codes → ISO 4217.
    static let currencySymbols: [(String, String)] = [
        ("€", "EUR"), ("£", "GBP"), ("$", "USD"), ("¥", "JPY"), ("₹", "INR"), ("zł", "PLN"), ("kč", "CZK"), ("fr.", "CHF"),
    ]
    static let currencyCodes = ["EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "CAD", "AUD", "INR", "CNY", "RON", "BGN"]

    static let legalForms = [
        "gmbh", "ag", "kg", "ohg", "ug", "e.k.", "ltd", "limited", "llc", "inc", "inc.", "plc", "corp", "sarl", "sas", "sa", "eurl",
        "s.l.", "s.a.", "sl", "b.v.", "bv", "n.v.", "v.o.f.", "s.r.l.", "srl", "s.p.a.", "spa", "s.a.s.", "s.n.c.",
    ]
}
