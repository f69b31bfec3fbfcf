import type { PhotoRow } from '../../adapters/database/schema.js';
import type { EnginePhoto, FaceBox } from '../../adapters/engines/generation-engine.js';

/** Converts a job's stored photos to what engines receive. */
export function toEnginePhotos(rows: PhotoRow[]): EnginePhoto[] {
  return rows.map((row) => ({
    id: row.id,
    storageKey: row.storage_key,
    width: row.width,
    height: row.height,
    faceBox: row.face_box === null ? null : (JSON.parse(row.face_box) as FaceBox),
  }));
}
