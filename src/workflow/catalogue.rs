//! RunComfy's model catalogue: model info and the paged model listing.
//!
//! Neither call is on the seed page; both come from RunComfy's own clients
//! (see `schema/queue-api.openapi.json`), so every field is optional and a
//! field of an unexpected shape is read as absent rather than failing the
//! call.

use super::client::Client;
use crate::error::Error;
use crate::model::ModelInfo;
use crate::wire::decode::{Answer, answer};
use futures::Stream;
use serde_json::Value;

/// What to list from the catalogue: a search text, a category, where to
/// start and how many models to fetch per request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
pub struct ModelQuery {
    search: Option<String>,
    category: Option<String>,
    kind: Option<String>,
    offset: u32,
    page_size: Option<u32>,
}

impl ModelQuery {
    /// Every model, in RunComfy's order, in pages of RunComfy's default size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only models matching this text.
    pub fn search(mut self, text: impl Into<String>) -> Self {
        self.search = Some(text.into());
        self
    }

    /// Only models of this category (e.g. `video`).
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }

    /// Only entries of this kind: `model`, `workflow` or `inference` (as
    /// RunComfy's CLI names them).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Skip this many models.
    pub fn offset(mut self, offset: u32) -> Self {
        self.offset = offset;
        self
    }

    /// Fetch this many models per request: 1 to
    /// [`MAX_PAGE_SIZE`](Self::MAX_PAGE_SIZE) (500, what RunComfy's CLI
    /// allows), clamped.
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size.clamp(1, Self::MAX_PAGE_SIZE));
        self
    }

    /// The largest page RunComfy's catalogue serves.
    pub const MAX_PAGE_SIZE: u32 = 500;
}

impl Client {
    /// A model's metadata from RunComfy: its name, categories, listed
    /// price and published input schema (`GET /v1/models/{model_id}`, the
    /// model id's slashes literal in the path).
    ///
    /// Every field but the id is optional: RunComfy documents this call
    /// only through its own clients.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidModelId`] for an id that cannot go into a URL path
    /// (nothing sent), and any API error (RunComfy answers 400001 for a
    /// model it does not know).
    pub async fn model_info(&self, model_id: &str) -> Result<ModelInfo, Error> {
        let model_id = crate::wire::ids::validate_model_id(model_id)?;
        let answer = answer(self.api().get_model(model_id), None).await?;
        Ok(ModelInfo::from_wire(answer.value, Some(model_id)))
    }

    /// The categories of RunComfy's model catalogue
    /// (`GET /v1/models/categories`), e.g. `video`, in RunComfy's order.
    ///
    /// A category sent as an object is read by its `name` (or `slug`, or
    /// `id`); entries of any other shape are skipped.
    ///
    /// # Errors
    ///
    /// Any API error.
    pub async fn categories(&self) -> Result<Vec<String>, Error> {
        let answer = answer(self.api().list_categories(), None).await?;
        let names = match answer.value.categories {
            Some(Value::Array(items)) => items.iter().filter_map(category_name).collect(),
            _ => Vec::new(),
        };
        Ok(names)
    }

    /// RunComfy's model catalogue, page by page, as a stream of models
    /// (`GET /v1/models`).
    ///
    /// Pages are fetched as the stream is read, each retried like any
    /// status call; the stream ends after the last page (by the answer's
    /// `total`, or an empty or short page when RunComfy sends no total).
    /// A server that sends the same page again ends it with an error
    /// instead of looping. An error ends the stream.
    pub fn models(
        &self,
        query: ModelQuery,
    ) -> impl Stream<Item = Result<ModelInfo, Error>> + Send + 'static {
        pages(self.clone(), query)
    }
}

/// A category's name: a string, or an object's `name`, `slug` or `id`.
fn category_name(entry: &Value) -> Option<String> {
    match entry {
        Value::String(name) => Some(name.clone()),
        Value::Object(map) => ["name", "slug", "id"]
            .iter()
            .find_map(|key| map.get(*key).and_then(Value::as_str))
            .map(String::from),
        _ => None,
    }
}

/// The most pages one listing fetches: far beyond any real catalogue, so a
/// server that never stops paging cannot keep a caller reading forever.
const MAX_PAGES: usize = 10_000;

/// Where a listing is between pages.
struct Cursor {
    client: Client,
    query: ModelQuery,
    offset: u32,
    pages: usize,
    previous_first: Option<String>,
    done: bool,
}

/// The catalogue as a stream of models, fetching a page at a time.
fn pages(
    client: Client,
    query: ModelQuery,
) -> impl Stream<Item = Result<ModelInfo, Error>> + Send + 'static {
    use futures::StreamExt;
    let cursor = Cursor {
        client,
        offset: query.offset,
        query,
        pages: 0,
        previous_first: None,
        done: false,
    };
    futures::stream::unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return None;
        }
        let page = cursor.next_page().await;
        if page.is_err() {
            cursor.done = true;
        }
        let items: Vec<Result<ModelInfo, Error>> = match page {
            Ok(models) => models.into_iter().map(Ok).collect(),
            Err(error) => vec![Err(error)],
        };
        Some((futures::stream::iter(items), cursor))
    })
    .flatten()
}

impl Cursor {
    async fn next_page(&mut self) -> Result<Vec<ModelInfo>, Error> {
        let query = &self.query;
        let api = self.client.api();
        let call = api.list_models(
            query.category.as_deref(),
            query.kind.as_deref(),
            query.page_size.and_then(std::num::NonZeroU32::new),
            Some(self.offset),
            query.search.as_deref(),
        );
        let Answer {
            value: answer,
            status,
        } = answer(call, None).await?;
        self.pages += 1;
        let models: Vec<ModelInfo> = answer
            .models
            .unwrap_or_default()
            .into_iter()
            .map(|m| ModelInfo::from_wire(m, None))
            .collect();
        let first = models.first().map(|m| m.model_id.clone());
        if first.is_some() && first == self.previous_first {
            return Err(Error::InvalidResponse {
                status,
                message: format!(
                    "the model listing sent the same page again at offset {}; stopped",
                    self.offset
                ),
                request_id: None,
            });
        }
        self.previous_first = first;
        let fetched = u32::try_from(models.len()).unwrap_or(u32::MAX);
        self.offset = self.offset.saturating_add(fetched);
        let short_page = query.page_size.is_some_and(|size| fetched < size);
        self.done = models.is_empty()
            || self.pages >= MAX_PAGES
            || self.offset == u32::MAX
            || match answer.total {
                Some(total) => u64::from(self.offset) >= total,
                None => short_page,
            };
        Ok(models)
    }
}
