import CLibXML2

/// Collects libxml2's structured errors (with line numbers) instead of letting libxml2 print
/// them to stderr: only the CLI prints.
final class XMLErrorSink {
    var messages: [String] = []

    /// The C callback; `ctx` is an unretained `XMLErrorSink`.
    static let handler: xmlStructuredErrorFunc = { ctx, error in
        guard let ctx, let error else { return }
        let sink = Unmanaged<XMLErrorSink>.fromOpaque(ctx).takeUnretainedValue()
        let e = error.pointee
        var text = e.message.map { String(cString: $0) } ?? "unknown error"
        while text.last == "\n" { text.removeLast() }
        sink.messages.append(e.line > 0 ? "line \(e.line): \(text)" : text)
    }

    /// Runs `body` with libxml2's (thread-local) structured error handler pointing at this sink.
    func capture<T>(_ body: () throws -> T) rethrows -> T {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        xmlSetStructuredErrorFunc(ctx, XMLErrorSink.handler)
        defer { xmlSetStructuredErrorFunc(nil, nil) }
        return try withExtendedLifetime(self) { try body() }
    }
}

/// A parsed document, freed with its owner.
final class XMLDoc {
    let doc: xmlDocPtr

    /// Parses without network access and without entity expansion (XML_PARSE_NONET, no NOENT).
    init(parsing xml: String, name: String) throws {
        let sink = XMLErrorSink()
        let bytes = Array(xml.utf8)
        let parsed: xmlDocPtr? = sink.capture {
            bytes.withUnsafeBufferPointer { buf in
                buf.baseAddress?.withMemoryRebound(to: CChar.self, capacity: buf.count) { p in
                    xmlReadMemory(p, Int32(buf.count), name, "UTF-8", Int32(XML_PARSE_NONET.rawValue))
                }
            }
        }
        guard let parsed else { throw XMLError("\(name) is not well-formed XML", details: sink.messages) }
        doc = parsed
    }

    deinit { xmlFreeDoc(doc) }
}

/// Validates documents against a W3C XML Schema with libxml2's xmlschemas.
public enum XMLSchemaValidator {
    /// Throws `XMLError` with every violation (and its line) when `xml` does not satisfy `xsd`.
    public static func validate(_ xml: String, against xsd: String) throws {
        let sink = XMLErrorSink()
        let xsdBytes = Array(xsd.utf8)
        let parser: xmlSchemaParserCtxtPtr? = xsdBytes.withUnsafeBufferPointer { buf in
            buf.baseAddress?.withMemoryRebound(to: CChar.self, capacity: buf.count) { p in
                xmlSchemaNewMemParserCtxt(p, Int32(buf.count))
            }
        }
        guard let parser else { throw XMLError("libxml2 could not read the schema") }
        defer { xmlSchemaFreeParserCtxt(parser) }
        xmlSchemaSetParserStructuredErrors(parser, XMLErrorSink.handler, Unmanaged.passUnretained(sink).toOpaque())
        // The XSD's own XML errors go to the global handler, its schema errors to the parser's.
        let schema = sink.capture { xmlSchemaParse(parser) }
        guard let schema else { throw XMLError("the schema is not a valid XSD", details: sink.messages) }
        defer { xmlSchemaFree(schema) }

        let doc = try XMLDoc(parsing: xml, name: "document")
        guard let valid = xmlSchemaNewValidCtxt(schema) else { throw XMLError("libxml2 could not create a validation context") }
        defer { xmlSchemaFreeValidCtxt(valid) }
        let docSink = XMLErrorSink()
        xmlSchemaSetValidStructuredErrors(valid, XMLErrorSink.handler, Unmanaged.passUnretained(docSink).toOpaque())
        let rc = withExtendedLifetime(docSink) { xmlSchemaValidateDoc(valid, doc.doc) }
        if rc != 0 {
            throw XMLError("the document does not satisfy the schema", details: docSink.messages.isEmpty ? ["libxml2 status \(rc)"] : docSink.messages)
        }
    }
}
