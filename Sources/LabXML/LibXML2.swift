import CLibXML2

/// The libxml2 labctl runs with.
public enum LibXML2 {
    /// The version of the shared library actually loaded, as libxml2 reports it
    /// (`xmlParserVersion` is a macro under threads, so ask `xmlCheckVersion`'s source).
    public static var runtimeVersion: String {
        // LIBXML_DOTTED_VERSION is the header's version; the loaded library's
        // number comes from xmlParserVersion through the thread-safe accessor.
        guard let p = __xmlParserVersion()?.pointee else { return LIBXML_DOTTED_VERSION }
        let n = Int(String(cString: p)) ?? 0
        return "\(n / 10000).\(n / 100 % 100).\(n % 100)"
    }
}
