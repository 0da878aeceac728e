import COpenSSL
import NIOCore

/// OpenSSL's error queue as text: the reasons of every queued error, oldest first (clearing the
/// queue). Call right after the failing OpenSSL call, on the same thread.
func openSSLErrors() -> String? {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        if let reason = ERR_reason_error_string(code) {
            reasons.append(String(cString: reason))
        } else {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
    return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
}

/// An OpenSSL `SSL_CTX` for the server side: certificate, key, optional client CA, TLS 1.2 or later.
///
/// `@unchecked Sendable`: the context is configured in `init` and only read afterwards
/// (`SSL_new` from several event loops, which OpenSSL allows on a configured context).
final class TLSServerContext: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ configuration: SyslogTLSConfiguration) throws(SyslogListenerError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw SyslogListenerError(.tlsSetup, "cannot create a TLS context", cause: openSSLErrors())
        }
        pointer = ctx
        // From here on `deinit` frees the context if a later step throws.
        guard vigil_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 else {
            throw SyslogListenerError(.tlsSetup, "cannot require TLS 1.2", cause: openSSLErrors())
        }
        vigil_SSL_CTX_set_server_options(ctx)
        _ = vigil_SSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        guard SSL_CTX_use_certificate_chain_file(ctx, configuration.certificate) == 1 else {
            throw SyslogListenerError(.tlsSetup, "cannot load the TLS certificate \(configuration.certificate) (a PEM file is expected)",
                                      cause: openSSLErrors())
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, configuration.key, SSL_FILETYPE_PEM) == 1 else {
            throw SyslogListenerError(.tlsSetup, "cannot load the TLS key \(configuration.key) (an unencrypted PEM key is expected)",
                                      cause: openSSLErrors())
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw SyslogListenerError(.tlsSetup, "the TLS key \(configuration.key) does not match the certificate \(configuration.certificate)",
                                      cause: openSSLErrors())
        }
        if let ca = configuration.ca {
            guard SSL_CTX_load_verify_locations(ctx, ca, nil) == 1 else {
                throw SyslogListenerError(.tlsSetup, "cannot load the client CA file \(ca)", cause: openSSLErrors())
            }
            if let names = SSL_load_client_CA_file(ca) { SSL_CTX_set_client_CA_list(ctx, names) }
            var mode = SSL_VERIFY_PEER
            if configuration.clientAuthentication == .required { mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT }
            SSL_CTX_set_verify(ctx, mode, nil)
        }
        ERR_clear_error()
    }

    deinit { SSL_CTX_free(pointer) }
}

/// One connection's `SSL` object over a pair of memory BIOs: ciphertext from the socket goes
/// into `input`, ciphertext to send comes out of `output`. Owned by one channel handler and used
/// only on its event loop.
final class TLSSession {
    let ssl: OpaquePointer
    private let input: OpaquePointer
    private let output: OpaquePointer

    init(context: TLSServerContext) throws(SyslogListenerError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.pointer) else {
            throw SyslogListenerError(.tlsSetup, "cannot create a TLS session", cause: openSSLErrors())
        }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw SyslogListenerError(.tlsSetup, "cannot create memory BIOs", cause: openSSLErrors())
        }
        // SSL_set_bio hands both BIOs to the SSL object: SSL_free frees them.
        SSL_set_bio(ssl, input, output)
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        self.input = input
        self.output = output
    }

    deinit { SSL_free(ssl) }

    /// Appends ciphertext received from the peer. Memory BIOs grow as needed.
    func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return true }
        return BIO_write(input, base, Int32(bytes.count)) == Int32(bytes.count)
    }

    /// Bytes of ciphertext waiting to be sent.
    var pendingOutput: Int { Int(vigil_BIO_pending(output)) }

    /// Moves up to `into.count` bytes of pending ciphertext out; returns how many.
    func drainOutput(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        return max(0, Int(BIO_read(output, base, Int32(buffer.count))))
    }
}

/// The server side of RFC 5425 through OpenSSL: decrypts the connection's bytes for the framing
/// handlers after it, and sends OpenSSL's handshake records, alerts and `close_notify` back.
///
/// A handshake that fails (a plaintext client, an old protocol version, a missing or untrusted
/// client certificate) or does not finish within the timeout closes the connection; it is
/// counted and logged with OpenSSL's reason.
final class OpenSSLServerHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: TLSSession
    private let peer: SyslogPeer
    private let metrics: SyslogListenerMetrics
    private let handshakeTimeout: TimeAmount
    private let log: @Sendable (String) -> Void
    private var handshakeDone = false
    private var failed = false
    private var receivedBytes = false
    private var timeout: Scheduled<Void>?
    private static let plaintextChunk = 16 * 1024

    init(session: TLSSession, peer: SyslogPeer, metrics: SyslogListenerMetrics, handshakeTimeout: TimeAmount,
         log: @escaping @Sendable (String) -> Void) {
        self.session = session
        self.peer = peer
        self.metrics = metrics
        self.handshakeTimeout = handshakeTimeout
        self.log = log
    }

    func channelActive(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            let (handler, context) = bound.value
            handler.fail(context: context, reason: "handshake not completed within \(handler.handshakeTimeout.nanoseconds / 1_000_000) ms")
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
        if !handshakeDone && !failed && receivedBytes {
            failed = true
            metrics._tlsHandshakeFailures.bump()
            log("syslog tls handshake with \(peer.address) failed: connection closed during the handshake")
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let ciphertext = unwrapInboundIn(data)
        receivedBytes = true
        guard ciphertext.withUnsafeReadableBytes({ session.feed($0) }) else {
            fail(context: context, reason: openSSLErrors() ?? "cannot buffer TLS input")
            return
        }
        if !handshakeDone { advanceHandshake(context: context) }
        if handshakeDone && !failed { readPlaintext(context: context) }
        flushOutput(context: context)
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        ERR_clear_error()
        let result = SSL_do_handshake(session.ssl)
        if result == 1 {
            handshakeDone = true
            timeout?.cancel()
            timeout = nil
            metrics._tlsHandshakes.bump()
            return
        }
        let code = SSL_get_error(session.ssl, result)
        if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE { return }
        fail(context: context, reason: Self.describe(code))
    }

    /// Decrypts everything the input BIO holds into one buffer and passes it on.
    private func readPlaintext(context: ChannelHandlerContext) {
        var plaintext = context.channel.allocator.buffer(capacity: Self.plaintextChunk)
        while true {
            var result: Int32 = 0
            ERR_clear_error()
            plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.plaintextChunk) { buffer in
                result = SSL_read(session.ssl, buffer.baseAddress, Int32(clamping: buffer.count))
                return max(0, Int(result))
            }
            if result > 0 { continue }
            let code = SSL_get_error(session.ssl, result)
            if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE { break }
            if plaintext.readableBytes > 0 {
                context.fireChannelRead(wrapInboundOut(plaintext))
                plaintext.clear()
            }
            if code == SSL_ERROR_ZERO_RETURN {
                // The client sent close_notify: answer it and close.
                _ = SSL_shutdown(session.ssl)
                flushOutput(context: context)
                context.close(promise: nil)
            } else {
                fail(context: context, reason: Self.describe(code))
            }
            return
        }
        if plaintext.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(plaintext)) }
    }

    /// Sends whatever ciphertext OpenSSL produced (handshake records, alerts, tickets).
    private func flushOutput(context: ChannelHandlerContext) {
        var wrote = false
        while case let pending = session.pendingOutput, pending > 0 {
            var out = context.channel.allocator.buffer(capacity: pending)
            let n = out.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { session.drainOutput(into: $0) }
            guard n > 0 else { break }
            context.write(wrapOutboundOut(out), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
    }

    /// Records the failure (a handshake failure before the handshake completed, a TLS error
    /// after), sends any alert OpenSSL queued, and closes.
    private func fail(context: ChannelHandlerContext, reason: String) {
        guard !failed else { return }
        failed = true
        timeout?.cancel()
        timeout = nil
        if handshakeDone {
            metrics._tlsErrors.bump()
            log("syslog tls connection from \(peer.address) closed: \(reason)")
        } else {
            metrics._tlsHandshakeFailures.bump()
            log("syslog tls handshake with \(peer.address) failed: \(reason)")
        }
        flushOutput(context: context)
        context.close(promise: nil)
    }

    /// Application data written to the channel is encrypted (the listener writes none today).
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        guard handshakeDone, !failed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        ERR_clear_error()
        let ok = plaintext.withUnsafeReadableBytes { bytes -> Bool in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return true }
            return SSL_write(session.ssl, base, Int32(clamping: bytes.count)) == Int32(clamping: bytes.count)
        }
        guard ok else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            fail(context: context, reason: openSSLErrors() ?? "TLS write failed")
            return
        }
        flushOutput(context: context)
        promise?.succeed(())
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if handshakeDone && !failed && mode == .all {
            ERR_clear_error()
            _ = SSL_shutdown(session.ssl)  // queues our close_notify
            flushOutput(context: context)
        }
        context.close(mode: mode, promise: promise)
    }

    /// The reason for an `SSL_get_error` code, from the error queue when it has one.
    private static func describe(_ code: Int32) -> String {
        if let queued = openSSLErrors() { return queued }
        switch code {
        case SSL_ERROR_SYSCALL: return "unexpected end of the connection"
        case SSL_ERROR_ZERO_RETURN: return "the peer closed the TLS session"
        default: return "TLS error \(code)"
        }
    }
}
