import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `cube serve`'s HTTP side on SwiftNIO: one event loop accepts and parses, a thread pool
/// renders (tiles are CPU work and chunk reads may wait on storage), the loop writes back.
public enum CubeHTTPServer {
    /// Serves until the process ends; `started` gets the bound port (useful with port 0).
    public static func run(service: CubeService, host: String, port: Int,
                           started: @Sendable (Int) -> Void) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: max(2, ProcessInfo.processInfo.activeProcessorCount))
        pool.start()
        defer {
            try? pool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(service: service, pool: pool))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        let channel = try bootstrap.bind(host: host, port: port).wait()
        started(channel.localAddress?.port ?? port)
        try channel.closeFuture.wait()
    }
}

final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let service: CubeService
    let pool: NIOThreadPool
    private var head: HTTPRequestHead?

    init(service: CubeService, pool: NIOThreadPool) {
        self.service = service
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let service = service
            let method = head.method.rawValue, uri = head.uri
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            pool.runIfActive(eventLoop: context.eventLoop) { service.handle(method: method, uri: uri) }
                .whenComplete { result in
                    let response: CubeService.Response
                    switch result {
                    case .success(let r): response = r
                    case .failure(let e): response = .init(status: 500, contentType: "text/plain", body: Data("\(e)".utf8))
                    }
                    bound.value.handler.write(response, head: head, context: bound.value.context)
                }
        }
    }

    private func write(_ response: CubeService.Response, head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.count)")
        headers.add(name: "Cache-Control", value: response.cacheSeconds > 0 ? "max-age=\(response.cacheSeconds)" : "no-store")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
