// The one page-calling loop of both modes: call the operation page after page with the templated arguments,
// stream each answer in chunks of batchSize records, find the next page by number or token, refuse a loop or
// more than maxPages pages, and hold each chunk back one step so the last chunk of a page can say where
// reading resumes after the page.
import type { SoapCallResult, SoapClient } from '../client.js';
import type { SoapSourceConfig } from '../config.js';
import { SoapError, SoapErrorCodes } from '../errors.js';
import type { XmlObject } from './xml-stream.js';

/** Where paging resumes: a page ({{page}}) and the records of it already emitted. */
export interface PageCursor {
  page: number | string;
  skip: number;
}

export interface PageChunk {
  page: number | string;
  /** Index in the page of `items[0]`. */
  index: number;
  items: XmlObject[];
  /** Records of the page before this index were emitted by an earlier read (a resumed page). */
  skip: number;
  /** Where reading resumes after this chunk; undefined once the last page has been read. */
  next: PageCursor | undefined;
}

export type PagerConfig = Pick<
  SoapSourceConfig,
  'operation' | 'arguments' | 'records' | 'pagination' | 'maxPages' | 'batchSize'
>;

export interface PageRequest {
  /** {{since}} in the arguments. */
  since: string;
  /** Where to start; the first page when undefined. */
  from: PageCursor | undefined;
  /** What is being paged, for messages: `CaseService.ListCases since …`. */
  label: string;
  signal: AbortSignal;
}

export async function* readPages(
  client: SoapClient,
  config: PagerConfig,
  request: PageRequest,
): AsyncGenerator<PageChunk, void, undefined> {
  const { pagination } = config;
  const nextPath = pagination.type === 'token' ? pagination.nextPath : undefined;
  let page = request.from?.page ?? (pagination.type === 'none' ? 1 : pagination.first);
  let skip = request.from?.skip ?? 0;
  const tokens = new Set<string>();
  for (let pages = 0; ; pages += 1) {
    if (request.signal.aborted) return;
    if (pages >= config.maxPages) {
      throw new SoapError(
        SoapErrorCodes.SOAP_PAGINATION_LOOP,
        `${request.label}: still paging after maxPages (${config.maxPages}) pages; raise maxPages or check the pagination settings.`,
      );
    }
    const call = client.stream(
      config.operation,
      templateArguments(config.arguments, { since: request.since, page }),
      {
        recordPath: config.records,
        scalarPaths: nextPath === undefined ? [] : [nextPath],
        chunkSize: config.batchSize,
        signal: request.signal,
      },
    );
    let held: PageChunk | undefined;
    let read = 0;
    let step: IteratorResult<XmlObject[], SoapCallResult>;
    try {
      for (;;) {
        step = await call.next();
        if (step.done) break;
        if (held !== undefined) yield held;
        const index = read;
        read += step.value.length;
        held = { page, index, items: step.value, skip, next: { page, skip: Math.max(skip, read) } };
      }
    } finally {
      // Closes the call (and frees its slot) when the consumer stops mid-page.
      await call.return(undefined as never);
    }
    const following = nextPage(config.pagination, page, step.value, tokens, request.label);
    const last = held ?? { page, index: 0, items: [], skip, next: undefined };
    last.next = following === undefined ? undefined : { page: following, skip: 0 };
    yield last;
    if (following === undefined) return;
    page = following;
    skip = 0;
  }
}

function nextPage(
  pagination: PagerConfig['pagination'],
  page: number | string,
  answer: SoapCallResult,
  tokens: Set<string>,
  label: string,
): number | string | undefined {
  if (pagination.type === 'page-number') {
    const last =
      pagination.pageSize === undefined ? answer.records === 0 : answer.records < pagination.pageSize;
    return last ? undefined : Number(page) + 1;
  }
  if (pagination.type !== 'token') return undefined;
  const token = answer.scalars.get(pagination.nextPath);
  if (token === undefined || token === '') return undefined;
  if (tokens.has(token) || token === String(page)) {
    throw new SoapError(
      SoapErrorCodes.SOAP_PAGINATION_LOOP,
      `${label}: the service returned next-page token ${token} again; refusing to loop.`,
    );
  }
  tokens.add(token);
  return token;
}

const PLACEHOLDER = /\{\{\s*(since|page)\s*\}\}/g;

/** Replace {{since}} and {{page}} in every string of the arguments, recursively. */
export function templateArguments(args: unknown, values: { since: string; page: number | string }): unknown {
  if (typeof args === 'string') {
    const whole = /^\{\{\s*(since|page)\s*\}\}$/.exec(args);
    if (whole) return values[whole[1] as 'since' | 'page'];
    return args.replace(PLACEHOLDER, (_, name: 'since' | 'page') => String(values[name]));
  }
  if (Array.isArray(args)) return args.map((item) => templateArguments(item, values));
  if (args !== null && typeof args === 'object') {
    return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, templateArguments(v, values)]));
  }
  return args;
}
