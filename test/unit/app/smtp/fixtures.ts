/**
 * Real SMTP bytes for the unit tests, recorded on loopback from swaks 20201014.0 talking to
 * aiosmtpd 1.4.3 (Debian), and extracted with `tshark -r rec.pcap -q -z follow,tcp,raw,0`:
 *
 *   printf 'Line one\n.starts with a dot\n..two dots\n.\nlast\n' > body.txt
 *   /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:28025 &
 *   tcpdump -i lo -w rec.pcap -U 'tcp port 28025' &
 *   swaks --server 127.0.0.1:28025 --to a@b --from c@d --body @body.txt --helo client.example \
 *     --header 'Date: Thu, 01 Jan 2025 00:00:00 +0000' \
 *     --header 'Message-Id: <fixed@client.example>' --header 'Subject: fixed'
 */

/** Hex to bytes. */
export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
}

/** Bytes as a latin1 string, for readable assertions. */
export function text(b: Uint8Array | undefined): string {
  return b === undefined ? "" : Buffer.from(b).toString("latin1");
}

/** A latin1 string as bytes. */
export function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

/** swaks's commands up to DATA, each line exactly as on the wire (client → server segments 1–4). */
export const SWAKS_COMMANDS = hex(
  "45484c4f20636c69656e742e6578616d706c650d0a" + // EHLO client.example
    "4d41494c2046524f4d3a3c6340643e0d0a" + // MAIL FROM:<c@d>
    "5243505420544f3a3c6140623e0d0a" + // RCPT TO:<a@b>
    "444154410d0a", // DATA
);

/** swaks's DATA segment: the message, dot-stuffed, ending in CRLF "." CRLF (segment 5). */
export const SWAKS_DATA = hex(`
446174653a205468752c203031204a616e20323032352030303a30303a3030202b303030300d0a546f3a206140620d0a
46726f6d3a206340640d0a5375626a6563743a2066697865640d0a4d6573736167652d49643a203c666978656440636c
69656e742e6578616d706c653e0d0a582d4d61696c65723a207377616b73207632303230313031342e30206a65746d6f
72652e6f72672f6a6f686e2f636f64652f7377616b732f0d0a0d0a4c696e65206f6e650d0a2e2e737461727473207769
7468206120646f740d0a2e2e2e74776f20646f74730d0a2e2e0d0a6c6173740d0a0d0a0d0a2e0d0a`);

/** swaks's last command (segment 6). */
export const SWAKS_QUIT = hex("515549540d0a");

/** What the message is after unstuffing: SWAKS_DATA without the final "." line and stuffing dots. */
export const SWAKS_MESSAGE = bytes(
  "Date: Thu, 01 Jan 2025 00:00:00 +0000\r\nTo: a@b\r\nFrom: c@d\r\nSubject: fixed\r\n" +
    "Message-Id: <fixed@client.example>\r\nX-Mailer: swaks v20201014.0 jetmore.org/john/code/swaks/\r\n\r\n" +
    "Line one\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast\r\n\r\n\r\n",
);

/** aiosmtpd's replies to swaks, server → client, in order. */
export const AIOSMTPD_REPLIES = {
  greeting: hex("323230206c6f63616c686f737420507974686f6e20534d545020312e342e330d0a"), // 220 localhost Python SMTP 1.4.3
  ehlo: hex("3235302d6c6f63616c686f73740d0a" + "3235302d384249544d494d450d0a" + "3235302048454c500d0a"),
  ok: hex("323530204f4b0d0a"),
  data: hex("33353420456e6420646174612077697468203c43523e3c4c463e2e3c43523e3c4c463e0d0a"),
  bye: hex("323231204279650d0a"),
} as const;
