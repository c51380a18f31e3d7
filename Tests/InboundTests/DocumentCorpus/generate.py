#!/usr/bin/env python3
"""Regenerates the invoice/receipt corpus under Tests/InboundTests/DocumentCorpus/.

A DEV TOOL, not run by CI: the PDFs, scans, their extracted text (*.txt) and the ground truth
(*.truth.json) are committed, so the scoring test (InvoiceCorpusScoringTests) needs none of this.

Needs: python3 with fpdf2 (`pip install fpdf2`), DejaVu fonts (fonts-dejavu-core), poppler-utils
(`pdftotext`, `pdftoppm`), ImageMagick (`convert`, Debian `imagemagick`) and the tesseract CLI
(Debian `tesseract-ocr`, English data). Deterministic: a fixed seed, fixed creation dates.

    python3 Tests/InboundTests/DocumentCorpus/generate.py

Output, per document NAME:
    text/NAME.pdf, text/NAME.txt (pdftotext -layout), truth/NAME.json (shared by the scan)
    scans/NAME.{png,tif,jpg}, scans/NAME.txt (tesseract CLI: -l eng --psm 4 -c preserve_interword_spaces=1)
"""
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys

from fpdf import FPDF

HERE = os.path.dirname(os.path.abspath(__file__))
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
# The real ImageMagick (Debian imagemagick), not a wrapper earlier on PATH.
CONVERT = "/usr/bin/convert" if os.path.exists("/usr/bin/convert") else "convert"
# Page segmentation 4 (one column of lines of varying size) keeps an invoice's rows together, and
# preserve_interword_spaces keeps column gaps as runs of spaces, like `pdftotext -layout`.
TESSERACT = ["tesseract", "-l", "eng", "--psm", "4", "-c", "preserve_interword_spaces=1"]
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
rng = random.Random(20251231)

# ---------------------------------------------------------------------------------------------
# Languages: labels, month names, number and date formats.

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
    "en_short": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"],
    "fr_short": ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"],
    "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"],
    "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"],
}

L = {
    "en": dict(
        kinds=dict(invoice="INVOICE", receipt="RECEIPT", credit_note="CREDIT NOTE", quote="QUOTATION", order_confirmation="ORDER CONFIRMATION"),
        number=dict(invoice="Invoice No.", receipt="Receipt No.", credit_note="Credit Note No.", quote="Quote No.", order_confirmation="Order No."),
        date=dict(invoice="Invoice Date", receipt="Date", credit_note="Date", quote="Date", order_confirmation="Order Date"),
        due="Due Date", valid="Valid until", po="PO Number", vat_id="VAT Reg. No.", bill_to="Bill to",
        cols=["Description", "Qty", "Unit Price", "Amount"], subtotal="Subtotal", tax="VAT", total="Total",
        total_receipt="TOTAL", bank="Bank details", thanks="Thank you for your business!", paid="Paid by card",
    ),
    "de": dict(
        kinds=dict(invoice="Rechnung", receipt="Kassenbon", credit_note="Gutschrift", quote="Angebot", order_confirmation="Auftragsbestätigung"),
        number=dict(invoice="Rechnungsnummer", receipt="Bon-Nr.", credit_note="Gutschriftsnummer", quote="Angebotsnummer", order_confirmation="Auftragsnummer"),
        date=dict(invoice="Rechnungsdatum", receipt="Datum", credit_note="Datum", quote="Datum", order_confirmation="Datum"),
        due="Fällig am", valid="Gültig bis", po="Ihre Bestellnummer", vat_id="USt-IdNr.", bill_to="Rechnungsempfänger",
        cols=["Beschreibung", "Menge", "Einzelpreis", "Betrag"], subtotal="Nettobetrag", tax="MwSt.", total="Gesamtbetrag",
        total_receipt="SUMME", bank="Bankverbindung", thanks="Vielen Dank für Ihren Auftrag.", paid="Bezahlt mit Karte",
    ),
    "fr": dict(
        kinds=dict(invoice="FACTURE", receipt="TICKET DE CAISSE", credit_note="AVOIR", quote="DEVIS", order_confirmation="CONFIRMATION DE COMMANDE"),
        number=dict(invoice="Facture n°", receipt="Ticket n°", credit_note="Avoir n°", quote="Devis n°", order_confirmation="Commande n°"),
        date=dict(invoice="Date de facture", receipt="Date", credit_note="Date", quote="Date", order_confirmation="Date"),
        due="Date d'échéance", valid="Valable jusqu'au", po="Bon de commande", vat_id="N° TVA intracom.", bill_to="Client",
        cols=["Désignation", "Qté", "Prix unitaire", "Montant"], subtotal="Total HT", tax="TVA", total="Total TTC",
        total_receipt="TOTAL TTC", bank="Coordonnées bancaires", thanks="Merci de votre confiance.", paid="Payé par carte",
    ),
    "es": dict(
        kinds=dict(invoice="FACTURA", receipt="TICKET", credit_note="FACTURA RECTIFICATIVA", quote="PRESUPUESTO", order_confirmation="CONFIRMACIÓN DE PEDIDO"),
        number=dict(invoice="Nº de factura", receipt="Ticket nº", credit_note="Nº rectificativa", quote="Nº presupuesto", order_confirmation="Nº de pedido"),
        date=dict(invoice="Fecha de emisión", receipt="Fecha", credit_note="Fecha", quote="Fecha", order_confirmation="Fecha"),
        due="Fecha de vencimiento", valid="Válido hasta", po="Su pedido nº", vat_id="NIF", bill_to="Cliente",
        cols=["Descripción", "Cantidad", "Precio unitario", "Importe"], subtotal="Base imponible", tax="IVA", total="Importe total",
        total_receipt="TOTAL", bank="Datos bancarios", thanks="Gracias por su confianza.", paid="Pagado con tarjeta",
    ),
    "nl": dict(
        kinds=dict(invoice="FACTUUR", receipt="KASSABON", credit_note="CREDITNOTA", quote="OFFERTE", order_confirmation="ORDERBEVESTIGING"),
        number=dict(invoice="Factuurnummer", receipt="Bonnummer", credit_note="Creditnotanummer", quote="Offertenummer", order_confirmation="Ordernummer"),
        date=dict(invoice="Factuurdatum", receipt="Datum", credit_note="Datum", quote="Datum", order_confirmation="Datum"),
        due="Vervaldatum", valid="Geldig tot", po="Uw inkoopordernummer", vat_id="BTW-nummer", bill_to="Factuuradres",
        cols=["Omschrijving", "Aantal", "Prijs per stuk", "Bedrag"], subtotal="Subtotaal", tax="BTW", total="Totaal",
        total_receipt="TOTAAL", bank="Bankgegevens", thanks="Bedankt voor uw opdracht.", paid="Betaald met pin",
    ),
    "it": dict(
        kinds=dict(invoice="FATTURA", receipt="SCONTRINO", credit_note="NOTA DI CREDITO", quote="PREVENTIVO", order_confirmation="CONFERMA D'ORDINE"),
        number=dict(invoice="Fattura n.", receipt="Scontrino n.", credit_note="Nota di credito n.", quote="Preventivo n.", order_confirmation="Ordine n."),
        date=dict(invoice="Data fattura", receipt="Data", credit_note="Data", quote="Data", order_confirmation="Data"),
        due="Scadenza", valid="Valido fino al", po="Vs. ordine n.", vat_id="P.IVA", bill_to="Destinatario",
        cols=["Descrizione", "Quantità", "Prezzo unitario", "Importo"], subtotal="Imponibile", tax="IVA", total="Totale",
        total_receipt="TOTALE", bank="Coordinate bancarie", thanks="Grazie per la fiducia.", paid="Pagato con carta",
    ),
}

ISSUERS = {
    "en": ["Northwind Traders Ltd", "Blue Harbor Consulting LLC", "Kestrel Print Works Ltd", "Maple & Oak Supplies Inc.", "Greyfield Catering Ltd", "Summit Cloud Services Inc."],
    "de": ["Müller Bürobedarf GmbH", "Schneider IT-Service GmbH", "Bäckerei Weber", "Hoffmann Logistik AG", "Fischer & Söhne KG", "Alpenblick Software AG"],
    "fr": ["Dupont Fournitures SARL", "Atelier Lefèvre SAS", "Boulangerie Martin", "Moreau Conseil SARL", "Imprimerie Girard SA", "Le Petit Bistrot"],
    "es": ["Suministros García S.L.", "Consultoría Martínez S.A.", "Panadería López", "Transportes Sánchez S.L.", "Gráficas Romero S.L.", "Café del Sol"],
    "nl": ["De Vries Kantoorartikelen B.V.", "Jansen ICT Diensten B.V.", "Bakkerij Bakker", "Van Dijk Transport B.V.", "Smit Drukwerk V.O.F.", "Eetcafé De Molen"],
    "it": ["Rossi Forniture S.r.l.", "Bianchi Consulenze S.p.A.", "Panificio Romano", "Trasporti Ferrari S.r.l.", "Tipografia Esposito S.r.l.", "Bar Centrale"],
}
CUSTOMERS = ["Acme Widgets Ltd", "Globex GmbH", "Initech SARL", "Umbrella S.L.", "Hooli B.V.", "Vandelay S.r.l."]
ITEMS = {
    "en": ["Printer paper A4 (500 sheets)", "Consulting hours", "Toner cartridge black", "Website maintenance", "Office chair", "Catering lunch buffet", "USB-C docking station", "Delivery charge"],
    "de": ["Kopierpapier A4 (500 Blatt)", "Beratungsstunden", "Tonerkartusche schwarz", "Wartung Webseite", "Bürostuhl", "Lieferung und Montage", "Netzwerkkabel 5 m", "Brötchen"],
    "fr": ["Ramette papier A4", "Heures de conseil", "Cartouche toner noir", "Maintenance site web", "Chaise de bureau", "Frais de livraison", "Croissant", "Café crème"],
    "es": ["Papel A4 (500 hojas)", "Horas de consultoría", "Cartucho de tóner negro", "Mantenimiento web", "Silla de oficina", "Gastos de envío", "Café con leche", "Bocadillo"],
    "nl": ["Printpapier A4 (500 vel)", "Adviesuren", "Tonercartridge zwart", "Onderhoud website", "Bureaustoel", "Verzendkosten", "Koffie", "Broodje kaas"],
    "it": ["Carta A4 (500 fogli)", "Ore di consulenza", "Cartuccia toner nero", "Manutenzione sito web", "Sedia da ufficio", "Spese di spedizione", "Cappuccino", "Cornetto"],
}
TAX_RATES = {"en": [20, 20, 5], "de": [19, 19, 7], "fr": [20, 20, 5.5], "es": [21, 21, 10], "nl": [21, 21, 9], "it": [22, 22, 10]}
COUNTRY = {"en": "GB", "de": "DE", "fr": "FR", "es": "ES", "nl": "NL", "it": "IT"}
IBAN_LEN = {"GB": 22, "DE": 22, "FR": 27, "ES": 24, "NL": 18, "IT": 27, "CH": 21}


def fmt_amount(value, style):
    """style: us 1,234.56 | eu 1.234,56 | fr 1 234,56 | ch 1'234.56 | plain 1234,56 | plaindot 1234.56"""
    negative = value < 0
    whole, frac = f"{abs(value):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    sep, dec = {"us": (",", "."), "eu": (".", ","), "fr": (" ", ","), "ch": ("'", "."), "plain": ("", ","), "plaindot": ("", ".")}[style]
    text = sep.join(groups) + dec + frac
    return ("-" if negative else "") + text


def fmt_money(value, currency, style, lang):
    amount = fmt_amount(value, style)
    if currency == "USD":
        return "$" + amount
    if currency == "GBP":
        return "£" + amount
    if currency == "CHF":
        return "CHF " + amount
    if lang in ("nl",):
        return "€ " + amount
    if lang == "en":
        return "€" + amount
    return amount + " €" if lang in ("fr", "de", "es", "it") and style != "ch" else amount + " EUR"


def fmt_date(d, style):
    m = d.month - 1
    return {
        "dmy_dot": f"{d.day:02d}.{d.month:02d}.{d.year}",
        "dmy_slash": f"{d.day:02d}/{d.month:02d}/{d.year}",
        "mdy_slash": f"{d.month:02d}/{d.day:02d}/{d.year}",
        "dmy_dash": f"{d.day:02d}-{d.month:02d}-{d.year}",
        "iso": d.isoformat(),
        "en_long": f"{MONTHS['en'][m]} {d.day}, {d.year}",
        "en_gb": f"{d.day} {MONTHS['en_short'][m]} {d.year}",
        "de_long": f"{d.day}. {MONTHS['de'][m]} {d.year}",
        "fr_short": f"{d.day} {MONTHS['fr_short'][m]} {d.year}",
        "fr_long": f"{d.day} {MONTHS['fr'][m]} {d.year}",
        "es_long": f"{d.day} de {MONTHS['es'][m]} de {d.year}",
        "nl_long": f"{d.day} {MONTHS['nl'][m]} {d.year}",
        "it_long": f"{d.day} {MONTHS['it'][m]} {d.year}",
    }[style]


def iban(country):
    length = IBAN_LEN[country]
    bban = "".join(str(rng.randint(0, 9)) for _ in range(length - 4))
    if country in ("GB", "NL"):
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + bban[4:]
    if country == "IT":
        bban = rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + bban[1:]
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


def grouped(text):
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def vat_id(country):
    digits = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))
    return {"GB": "GB" + digits(9), "DE": "DE" + digits(9), "FR": "FR" + digits(2) + digits(9), "ES": "ESB" + digits(8),
            "NL": "NL" + digits(9) + "B01", "IT": "IT" + digits(11), "CH": "CHE-" + digits(3) + "." + digits(3) + "." + digits(3)}[country]


def bic(country):
    letters = lambda n: "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))
    return letters(4) + country + letters(2) + (rng.choice(["", "XXX"]))


# ---------------------------------------------------------------------------------------------
# One document: its truth, then a layout that prints it.

def make_doc(index, lang, kind, layout, variant):
    country = COUNTRY[lang]
    currency = "EUR"
    amount_style = {"en": "us", "de": "eu", "fr": "fr", "es": "eu", "nl": "eu", "it": "eu"}[lang]
    date_style = {"en": "en_gb", "de": "dmy_dot", "fr": "dmy_slash", "es": "dmy_slash", "nl": "dmy_dash", "it": "dmy_slash"}[lang]
    if lang == "en":
        currency = ["GBP", "USD", "EUR", "GBP", "USD", "GBP"][variant]
        if currency == "USD":
            date_style = ["mdy_slash", "en_long"][variant % 2]
            country = "US"
        else:
            date_style = ["en_gb", "dmy_slash", "iso"][variant % 3]
    elif variant == 1:
        date_style = {"de": "de_long", "fr": "fr_short", "es": "es_long", "nl": "nl_long", "it": "it_long"}[lang]
    elif variant == 3:
        date_style = {"de": "iso", "fr": "fr_long", "es": "dmy_slash", "nl": "dmy_dash", "it": "dmy_slash"}[lang]
    if lang == "de" and variant == 4:
        currency, amount_style, country = "CHF", "ch", "CH"
    if variant == 5 and lang in ("es", "it", "nl"):
        amount_style = "plain"
    if lang == "fr" and variant == 2:
        amount_style = "plain"

    issue = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 360))
    due = issue + dt.timedelta(days=rng.choice([14, 30, 45]))
    rate = rng.choice(TAX_RATES[lang]) if country != "US" else rng.choice([0, 8.875, 7.25])
    if country == "CH":
        rate = 8.1
    n_items = rng.randint(1, 3) if kind == "receipt" else rng.randint(2, 5)
    names = rng.sample(ITEMS[lang], n_items)
    items = []
    for name in names:
        qty = rng.choice([1, 1, 2, 3, 5, 10, 12]) if kind != "receipt" else rng.choice([1, 1, 2, 3])
        unit = round(rng.uniform(1.5, 30) if kind == "receipt" else rng.choice([rng.uniform(5, 150), rng.uniform(150, 2400)]), 2)
        items.append({"description": name, "quantity": qty, "unit_price": unit, "amount": round(qty * unit, 2)})
    subtotal = round(sum(i["amount"] for i in items), 2)
    tax = round(subtotal * rate / 100, 2)
    total = round(subtotal + tax, 2)
    prefix = {"invoice": "INV", "receipt": "", "credit_note": "CN", "quote": "Q", "order_confirmation": "OC"}[kind]
    number = rng.choice([f"{prefix}-{issue.year}-{rng.randint(100, 9999):04d}", f"{prefix}{issue.year % 100}{rng.randint(10000, 99999)}", f"{issue.year}/{rng.randint(1, 999):03d}"])
    if kind == "receipt":
        number = f"{rng.randint(1000, 99999)}"
    issuer_name = ISSUERS[lang][variant]
    has_bank = kind in ("invoice", "credit_note") or (kind == "order_confirmation" and variant % 2 == 0)
    truth_fields = {
        "issuer": issuer_name,
        "vat_id": vat_id(country) if country != "US" else None,
        "invoice_number": number,
        "issue_date": issue.isoformat(),
        "due_date": due.isoformat() if kind == "invoice" else None,
        "currency": currency,
        "total": total,
        "subtotal": subtotal,
        "tax": tax,
        "tax_rate": rate,
        "iban": iban(country if country in IBAN_LEN else "GB") if has_bank and country != "US" else None,
        "bic": None,
        "po_number": f"PO-{rng.randint(10000, 99999)}" if kind in ("invoice", "order_confirmation") and variant % 2 == 0 else None,
        "line_items": items,
    }
    if truth_fields["iban"]:
        truth_fields["bic"] = bic(truth_fields["iban"][:2])
    if kind == "receipt":
        truth_fields["vat_id"] = truth_fields["vat_id"] if variant % 2 == 0 else None
    doc = dict(name=f"{index:02d}-{lang}-{kind.replace('_', '-')}-{layout}", lang=lang, kind=kind, layout=layout,
               amount_style=amount_style, date_style=date_style, fields=truth_fields)
    return doc


class Page(FPDF):
    def __init__(self, width_mm=210, height_mm=297):
        super().__init__(unit="mm", format=(width_mm, height_mm))
        self.set_creation_date(dt.datetime(2025, 12, 31, tzinfo=dt.timezone.utc))
        self.add_font("DejaVu", "", FONT)
        self.add_font("DejaVu", "B", FONT_BOLD)
        self.add_font("Mono", "", MONO)
        self.set_auto_page_break(False)
        self.add_page()

    def text_at(self, x, y, text, size=10, bold=False, align="L", width=0, font="DejaVu"):
        self.set_font(font, "B" if bold else "", size)
        self.set_xy(x, y)
        self.cell(width, size * 0.45, text, align=align)


def money(doc, value):
    f = doc["fields"]
    return fmt_money(value, f["currency"], doc["amount_style"], doc["lang"])


def amount(doc, value):
    return fmt_amount(value, doc["amount_style"])


def rate_text(rate, lang):
    text = f"{rate:g}"
    return text.replace(".", ",") if lang != "en" else text


def layout_table(doc):
    """Letterhead, title, meta block on the right, bordered item table, totals, bank footer."""
    lab, f, lang = L[doc["lang"]], doc["fields"], doc["lang"]
    p = Page()
    p.text_at(15, 15, f["issuer"], 16, bold=True)
    p.text_at(15, 23, "Industriestraße 12, 10115 Berlin" if lang == "de" else "12 Market Street, Springfield", 9)
    if f["vat_id"]:
        p.text_at(15, 28, f"{lab['vat_id']}: {f['vat_id']}", 9)
    p.text_at(15, 45, lab["kinds"][doc["kind"]], 20, bold=True)
    p.text_at(15, 60, lab["bill_to"] + ":", 10, bold=True)
    p.text_at(15, 65, CUSTOMERS[hash(doc["name"]) % 6 if False else int(doc["name"][:2]) % 6], 10)
    p.text_at(15, 70, "Via Roma 1, 00100" if lang == "it" else "Hauptstraße 5, 80331 München" if lang == "de" else "5 High Road", 10)
    y = 60
    meta = [(lab["number"][doc["kind"]], f["invoice_number"]), (lab["date"][doc["kind"]], fmt_date(dt.date.fromisoformat(f["issue_date"]), doc["date_style"]))]
    if f["due_date"]:
        meta.append((lab["due"], fmt_date(dt.date.fromisoformat(f["due_date"]), doc["date_style"])))
    if f["po_number"]:
        meta.append((lab["po"], f["po_number"]))
    for label, value in meta:
        p.text_at(110, y, label + ":", 10)
        p.text_at(160, y, value, 10)
        y += 5
    y = 95
    widths = [85, 20, 35, 40]
    p.set_font("DejaVu", "B", 10)
    p.set_xy(15, y)
    for w, title in zip(widths, lab["cols"]):
        p.cell(w, 7, title, border=1, align="L" if w == 85 else "R")
    y += 7
    p.set_font("DejaVu", "", 10)
    for item in f["line_items"]:
        p.set_xy(15, y)
        cells = [item["description"], f"{item['quantity']}", amount(doc, item["unit_price"]), amount(doc, item["amount"])]
        for w, text in zip(widths, cells):
            p.cell(w, 7, text, border=1, align="L" if w == 85 else "R")
        y += 7
    y += 6
    totals = [(lab["subtotal"], money(doc, f["subtotal"])), (f"{lab['tax']} {rate_text(f['tax_rate'], lang)}%", money(doc, f["tax"])), (lab["total"], money(doc, f["total"]))]
    for i, (label, value) in enumerate(totals):
        p.text_at(110, y, label, 10, bold=i == 2)
        p.text_at(150, y, value, 10, bold=i == 2, align="R", width=45)
        y += 6
    if f["iban"]:
        p.text_at(15, 250, lab["bank"] + ":", 9, bold=True)
        p.text_at(15, 255, f"IBAN: {grouped(f['iban'])}   BIC: {f['bic']}", 9)
    p.text_at(15, 270, lab["thanks"], 9)
    return p


def layout_two_column(doc):
    """Issuer and customer in two columns, 'label value' meta in two columns, items without borders."""
    lab, f, lang = L[doc["lang"]], doc["fields"], doc["lang"]
    p = Page()
    p.text_at(15, 15, f["issuer"], 14, bold=True)
    p.text_at(120, 15, lab["kinds"][doc["kind"]], 18, bold=True)
    p.text_at(15, 22, "Avenue des Champs 8, 75008 Paris" if lang == "fr" else "Calle Mayor 3, 28013 Madrid" if lang == "es" else "Keizersgracht 10, 1015 Amsterdam" if lang == "nl" else "1 Long Lane", 9)
    if f["vat_id"]:
        p.text_at(15, 27, f"{lab['vat_id']} {f['vat_id']}", 9)
    p.text_at(15, 42, lab["bill_to"], 10, bold=True)
    p.text_at(15, 47, CUSTOMERS[int(doc["name"][:2]) % 6], 10)
    y = 42
    meta = [(lab["number"][doc["kind"]], f["invoice_number"]), (lab["date"][doc["kind"]], fmt_date(dt.date.fromisoformat(f["issue_date"]), doc["date_style"]))]
    if f["due_date"]:
        meta.append((lab["due"], fmt_date(dt.date.fromisoformat(f["due_date"]), doc["date_style"])))
    elif doc["kind"] == "quote":
        valid = dt.date.fromisoformat(f["issue_date"]) + dt.timedelta(days=30)
        meta.append((lab["valid"], fmt_date(valid, doc["date_style"])))
    if f["po_number"]:
        meta.append((lab["po"], f["po_number"]))
    for label, value in meta:
        p.text_at(120, y, label, 9)
        p.text_at(165, y, value, 9)
        y += 5
    y = 80
    xs = [15, 110, 135, 170]
    for x, title, align in zip(xs, lab["cols"], "LRRR"):
        p.text_at(x, y, title, 9, bold=True, align=align, width=0 if align == "L" else 25)
    y += 7
    for item in f["line_items"]:
        cells = [item["description"], f"{item['quantity']}", amount(doc, item["unit_price"]), amount(doc, item["amount"])]
        for x, text, align in zip(xs, cells, "LRRR"):
            p.text_at(x, y, text, 9, align=align, width=0 if align == "L" else 25)
        y += 6
    y += 8
    p.text_at(120, y, lab["subtotal"], 10)
    p.text_at(170, y, money(doc, f["subtotal"]), 10, align="R", width=25)
    p.text_at(120, y + 6, f"{lab['tax']} ({rate_text(f['tax_rate'], lang)} %)", 10)
    p.text_at(170, y + 6, money(doc, f["tax"]), 10, align="R", width=25)
    p.text_at(120, y + 13, lab["total"], 12, bold=True)
    p.text_at(165, y + 13, money(doc, f["total"]), 12, bold=True, align="R", width=30)
    if f["iban"]:
        p.text_at(15, 255, lab["bank"], 9, bold=True)
        p.text_at(15, 260, f"IBAN {grouped(f['iban'])}", 9)
        p.text_at(15, 265, f"BIC {f['bic']}", 9)
    return p


def layout_receipt(doc):
    """A till receipt on an 80 mm strip, monospaced."""
    lab, f, lang = L[doc["lang"]], doc["fields"], doc["lang"]
    height = 120 + 10 * len(f["line_items"])
    p = Page(80, height)
    width = 32
    y = 6

    def line(text, bold=False, size=8):
        nonlocal y
        p.text_at(4, y, text, size, bold=bold, font="DejaVu" if bold else "Mono")
        y += 4.2

    def lr(left, right):
        line(left + " " * max(1, width - len(left) - len(right)) + right)

    line(f["issuer"], bold=True, size=9)
    line("Bahnhofstrasse 1, Zürich" if f["currency"] == "CHF" else "Main Square 4")
    if f["vat_id"]:
        line(f"{lab['vat_id']} {f['vat_id']}")
    y += 2
    line(lab["kinds"][doc["kind"]], bold=True)
    lr(lab["number"][doc["kind"]], f["invoice_number"])
    lr(lab["date"][doc["kind"]], fmt_date(dt.date.fromisoformat(f["issue_date"]), doc["date_style"]))
    line("-" * width)
    for item in f["line_items"]:
        line(item["description"][:width])
        lr(f"  {item['quantity']} x {amount(doc, item['unit_price'])}", amount(doc, item["amount"]))
    line("-" * width)
    lr(lab["subtotal"], amount(doc, f["subtotal"]))
    lr(f"{lab['tax']} {rate_text(f['tax_rate'], lang)}%", amount(doc, f["tax"]))
    lr(lab["total_receipt"] + " " + f["currency"], amount(doc, f["total"]))
    line("=" * width)
    line(lab["paid"])
    line(lab["thanks"][:width])
    return p


LAYOUTS = {"table": layout_table, "twocol": layout_two_column, "receipt": layout_receipt}

# Six documents per language: every kind, every layout.
PLAN = [("invoice", "table"), ("invoice", "twocol"), ("receipt", "receipt"), ("credit_note", "table"), ("quote", "twocol"), ("order_confirmation", "table")]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ocr_only():
    """Re-runs only the OCR of the committed scans (after changing TESSERACT)."""
    scans = os.path.join(HERE, "scans")
    for name in sorted(os.listdir(scans)):
        base, ext = os.path.splitext(name)
        if ext in (".png", ".tif", ".jpg"):
            with open(os.path.join(scans, base + ".txt"), "w", encoding="utf-8") as out:
                run(TESSERACT + [os.path.join(scans, name), "-"], stdout=out, stderr=subprocess.DEVNULL)
            print(base)


def main():
    if sys.argv[1:] == ["--ocr-only"]:
        return ocr_only()
    for sub in ("text", "scans", "truth"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
        os.makedirs(os.path.join(HERE, sub))
    index = 0
    scan_formats = ["png", "tif", "jpg"]
    for lang in ("en", "de", "fr", "es", "nl", "it"):
        for variant, (kind, layout) in enumerate(PLAN):
            index += 1
            doc = make_doc(index, lang, kind, layout, variant)
            name = doc["name"]
            pdf = os.path.join(HERE, "text", name + ".pdf")
            LAYOUTS[layout](doc).output(pdf)
            run(["pdftotext", "-layout", pdf, os.path.join(HERE, "text", name + ".txt")])
            truth = {"name": name, "language": lang, "layout": layout, "kind": kind, "fields": doc["fields"]}
            with open(os.path.join(HERE, "truth", name + ".json"), "w", encoding="utf-8") as out:
                json.dump(truth, out, ensure_ascii=False, indent=2, sort_keys=True)
                out.write("\n")
            # The scan: 200 dpi grayscale, rotated 1-3 degrees either way, light noise, blur.
            fmt = scan_formats[index % 3]
            angle = rng.choice([-1, 1]) * rng.choice([1, 1.5, 2, 2.5, 3])
            base = os.path.join(HERE, "scans", name)
            run(["pdftoppm", "-r", "200", "-gray", "-singlefile", "-png", pdf, base + "-raw"])
            args = [CONVERT, base + "-raw.png", "-background", "white", "-rotate", f"{angle}", "+repage",
                    "-attenuate", "0.4", "+noise", "Gaussian", "-blur", "0x0.5", "-colorspace", "Gray"]
            if fmt == "png":
                args += ["-depth", "4"]
            elif fmt == "tif":
                args += ["-threshold", "60%", "-type", "bilevel", "-compress", "Group4"]
            else:
                args += ["-quality", "55"]
            run(args + [f"{base}.{fmt}"])
            os.remove(base + "-raw.png")
            with open(base + ".txt", "w", encoding="utf-8") as out:
                run(TESSERACT + [f"{base}.{fmt}", "-"], stdout=out, stderr=subprocess.DEVNULL)
            print(name, fmt, f"{angle:+}")


if __name__ == "__main__":
    sys.exit(main())
