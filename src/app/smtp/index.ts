/**
 * SMTP (RFC 5321): the server (`serveSmtp`, over any `NetFaces`, storing through a `MailStore`) and
 * the client (`sendMail`), each a sans-IO core plus a thin layer over a Duplex.
 */
export * from "./codec.ts";
export * from "./server-core.ts";
export * from "./server.ts";
export * from "./client-core.ts";
export * from "./client.ts";
