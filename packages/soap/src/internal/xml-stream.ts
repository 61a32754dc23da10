// A hardened, streaming reader of SOAP responses: it walks the envelope with saxes as the body arrives, hands
// out the elements at the configured record path as plain objects, captures a few scalar values (a next-page
// token, fault code and reason) and refuses DOCTYPEs, entity declarations, oversized and over-deep payloads
// before anything is expanded or buffered. node-soap would buffer the whole body and build every object.
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { SoapError, SoapErrorCodes } from '../errors.js';

import type { XmlObject, XmlValue } from '../xml.js';

export type { XmlObject, XmlValue };

export interface ResponseReaderOptions {
  /** Dotted path below the Body's first element, `[]` marking the repeated record element. */
  recordPath: string | undefined;
  /** Dotted paths (same base) whose text is captured, e.g. a next-page token. */
  scalarPaths: readonly string[];
  maxBytes: number;
  maxDepth: number;
  onRecord: (record: XmlObject) => void;
  /** Used in error messages. */
  where: string;
}

export interface ReaderResult {
  /** Local name of the Body's first element (the response wrapper, or Fault). */
  bodyElement: string | undefined;
  scalars: Map<string, string>;
  fault: { code: string; subcode?: string; reason: string } | undefined;
  records: number;
}

interface Frame {
  name: string;
  text: string;
  children: XmlObject | undefined;
  nil: boolean;
}

const FAULT_PATHS = ['faultcode', 'faultstring', 'Code.Value', 'Code.Subcode.Value', 'Reason.Text'];

function localName(qualified: string): string {
  const colon = qualified.indexOf(':');
  return colon === -1 ? qualified : qualified.slice(colon + 1);
}

/** Parses one response body fed in chunks; `finish()` checks it was a whole envelope. */
export class SoapResponseReader {
  private readonly parser: SaxesParser;
  private readonly recordKey: string | undefined;
  private readonly scalarKeys: Set<string>;
  private bytes = 0;
  private depth = 0;
  /** Depth of soap:Body, once seen. */
  private bodyDepth = -1;
  private sawEnvelope = false;
  private bodyElement: string | undefined;
  private isFault = false;
  /** Local names from the Body's first element down, outside records. */
  private readonly path: string[] = [];
  private capturing: string | undefined;
  private captured = '';
  private readonly scalars = new Map<string, string>();
  /** Frames of the record being built (empty outside a record). */
  private readonly frames: Frame[] = [];
  private records = 0;

  constructor(private readonly options: ResponseReaderOptions) {
    this.recordKey = options.recordPath?.replace(/\[\]/g, '');
    this.scalarKeys = new Set(options.scalarPaths);
    this.parser = new SaxesParser({ position: false });
    this.parser.on('doctype', () => {
      throw this.forbidden('a DOCTYPE declaration');
    });
    this.parser.on('processinginstruction', (pi) => {
      if (pi.target.toLowerCase() !== 'xml')
        throw this.forbidden(`a processing instruction <?${pi.target}?>`);
    });
    this.parser.on('opentag', (tag) => this.open(tag));
    this.parser.on('closetag', () => this.close());
    this.parser.on('text', (text) => this.text(text));
    this.parser.on('cdata', (text) => this.text(text));
    this.parser.on('error', (error) => {
      throw this.invalid(error.message);
    });
  }

  write(chunk: string, byteLength: number): void {
    this.bytes += byteLength;
    if (this.bytes > this.options.maxBytes) {
      throw new SoapError(
        SoapErrorCodes.SOAP_RESPONSE_TOO_LARGE,
        `${this.options.where} answered with more than maxResponseBytes (${this.options.maxBytes} bytes); ` +
          'refused before reading further. Raise maxResponseBytes or ask for smaller pages.',
        { details: { maxBytes: this.options.maxBytes } },
      );
    }
    this.parser.write(chunk);
  }

  get bytesRead(): number {
    return this.bytes;
  }

  finish(): ReaderResult {
    this.parser.close();
    if (!this.sawEnvelope || this.bodyDepth === -1) throw this.invalid('no SOAP Envelope with a Body');
    let fault: ReaderResult['fault'];
    if (this.isFault) {
      const code = this.scalars.get('faultcode') ?? this.scalars.get('Code.Value') ?? 'unknown';
      const reason =
        this.scalars.get('faultstring') ?? this.scalars.get('Reason.Text') ?? '(no reason given)';
      const subcode = this.scalars.get('Code.Subcode.Value');
      fault = subcode === undefined ? { code, reason } : { code, subcode, reason };
    }
    return { bodyElement: this.bodyElement, scalars: this.scalars, fault, records: this.records };
  }

  private open(tag: SaxesTagPlain): void {
    this.depth += 1;
    if (this.depth > this.options.maxDepth) {
      throw new SoapError(
        SoapErrorCodes.SOAP_RESPONSE_TOO_LARGE,
        `${this.options.where} answered with XML nested deeper than ${this.options.maxDepth} elements; refused.`,
      );
    }
    const name = localName(tag.name);
    if (this.frames.length > 0) {
      this.frames.push({ name, text: '', children: undefined, nil: isNil(tag) });
      return;
    }
    if (this.bodyDepth === -1) {
      if (this.depth === 1) {
        if (name !== 'Envelope') throw this.invalid(`the root element is <${tag.name}>, not a SOAP Envelope`);
        this.sawEnvelope = true;
      } else if (this.depth === 2 && name === 'Body') {
        this.bodyDepth = 2;
      }
      return;
    }
    if (this.depth === this.bodyDepth + 1) {
      if (this.bodyElement === undefined) {
        this.bodyElement = name;
        this.isFault = name === 'Fault';
      }
      return;
    }
    this.path.push(name);
    const key = this.path.join('.');
    if (this.isFault) {
      if (FAULT_PATHS.includes(key)) this.startCapture(key);
      return;
    }
    if (key === this.recordKey) {
      this.frames.push({ name, text: '', children: undefined, nil: isNil(tag) });
      return;
    }
    if (this.scalarKeys.has(key)) this.startCapture(key);
  }

  private startCapture(key: string): void {
    this.capturing = key;
    this.captured = '';
  }

  private text(text: string): void {
    const frame = this.frames[this.frames.length - 1];
    if (frame !== undefined) {
      frame.text += text;
    } else if (this.capturing !== undefined) {
      this.captured += text;
    }
  }

  private close(): void {
    const frame = this.frames.pop();
    if (frame !== undefined) {
      const value: XmlValue = frame.nil ? null : (frame.children ?? frame.text);
      const parent = this.frames[this.frames.length - 1];
      if (parent === undefined) {
        this.records += 1;
        this.path.pop();
        this.depth -= 1;
        this.options.onRecord(typeof value === 'object' && value !== null ? (value as XmlObject) : { value });
        return;
      }
      parent.children ??= {};
      const children = parent.children;
      const existing = children[frame.name];
      if (existing === undefined) children[frame.name] = value;
      // A child value is never an array itself, so an array here is a repeated element's list.
      else if (Array.isArray(existing)) existing.push(value);
      else children[frame.name] = [existing, value];
      this.depth -= 1;
      return;
    }
    if (this.depth > this.bodyDepth + 1 && this.bodyDepth !== -1) {
      const key = this.path.join('.');
      if (this.capturing === key) {
        this.scalars.set(key, this.captured.trim());
        this.capturing = undefined;
      }
      this.path.pop();
    }
    this.depth -= 1;
  }

  private forbidden(what: string): SoapError {
    return new SoapError(
      SoapErrorCodes.SOAP_XML_FORBIDDEN,
      `${this.options.where} answered with ${what}; SOAP messages may not carry one and Ferry refuses it ` +
        '(XML external entities and entity expansion). Nothing was parsed or fetched.',
    );
  }

  private invalid(reason: string): SoapError {
    return new SoapError(
      SoapErrorCodes.SOAP_RESPONSE_INVALID,
      `${this.options.where} answered with something that is not a usable SOAP envelope: ${reason}`,
    );
  }
}

function isNil(tag: SaxesTagPlain): boolean {
  const attributes = tag.attributes;
  for (const name in attributes) {
    const value = attributes[name];
    if ((name === 'nil' || name.endsWith(':nil')) && (value === 'true' || value === '1')) return true;
  }
  return false;
}
