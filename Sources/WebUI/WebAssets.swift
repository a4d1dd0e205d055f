/// The web page's files, compiled into the binary (SwiftPM's `embedInCode` resources): `streamd` is one file
/// that can be copied anywhere and still serves its page, with nothing fetched from another host, so the page
/// works on a machine with no internet. A `Bundle.module` resource bundle would have to be installed beside the
/// binary and found at run time.
public enum WebAssets {
    /// One file of the page.
    public struct Asset: Sendable {
        public let bytes: [UInt8]
        public let contentType: String
        /// A strong validator derived from the content (FNV-1a), so a browser revalidates instead of refetching.
        public let etag: String

        init(_ bytes: [UInt8], _ contentType: String) {
            self.bytes = bytes
            self.contentType = contentType
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            etag = "\"\(String(hash, radix: 16))\""
        }
    }

    /// URL path → file. `/` is the page; the rest is what it links to.
    public static let files: [String: Asset] = [
        "/": Asset(PackageResources.index_html, "text/html; charset=utf-8"),
        "/assets/app.js": Asset(PackageResources.app_js, "text/javascript; charset=utf-8"),
        "/assets/app.css": Asset(PackageResources.app_css, "text/css; charset=utf-8"),
        "/assets/icon.svg": Asset(PackageResources.icon_svg, "image/svg+xml"),
    ]

    /// The Content-Security-Policy of the page: its own scripts, styles and images only (no inline script or
    /// style, nothing from another origin), pictures also from `blob:` URLs (previews, thumbnails and results are
    /// fetched with the token and shown from blobs), no frames, no forms posting elsewhere, no plugins.
    public static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        + "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}
