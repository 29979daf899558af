// Cloudflare-style pages (1-based `page`, `per_page`) over the store's offset/limit.
import type { Page, Paged } from '../store/port.js';

export interface PageRequest {
  page: number;
  perPage: number;
}

export interface PageResult<T> extends Paged<T> {
  page: number;
  perPage: number;
}

export function toStorePage({ page, perPage }: PageRequest): Page {
  return { offset: (page - 1) * perPage, limit: perPage };
}

export function mapPage<T, U>(request: PageRequest, paged: Paged<T>, map: (item: T) => U): PageResult<U> {
  return { ...request, total: paged.total, items: paged.items.map(map) };
}
