//! The built console (console/dist): `index.html` for every page the console routes itself,
//! its hashed assets for a year, and a page saying how to build it when it is not built.

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};

/// The console's top-level pages; each path under them is the console's to route.
const PAGES: &str = "health|users|orders|topics|operations|follow|account|sign-in";

/// Where the built console lies.
#[derive(Clone)]
pub struct Console {
    dir: PathBuf,
}

impl Console {
    /// The console built into `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Whether `dir` holds a built console.
    pub fn built(&self) -> bool {
        self.dir.join("index.html").is_file()
    }

    /// Mounts the console's routes (after the API's).
    pub fn configure(&self, config: &mut web::ServiceConfig) {
        let index = web::Data::new(self.clone());
        config
            .app_data(index)
            .route("/", web::get().to(page))
            .route(&format!("/{{page:({PAGES})(/.*)?}}"), web::get().to(page))
            .route(
                "/{file:[A-Za-z0-9_.-]+\\.(svg|ico|png|txt|webmanifest)}",
                web::get().to(root_file),
            );
        if self.dir.join("assets").is_dir() {
            config.service(
                web::scope("/assets")
                    // Vite names every asset by its content's hash.
                    .wrap(DefaultHeaders::new().add((
                        CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=31536000, immutable"),
                    )))
                    .service(Files::new("", self.dir.join("assets"))),
            );
        }
    }
}

/// `index.html`, never cached (it names the current assets), or how to build the console.
async fn page(console: web::Data<Console>) -> HttpResponse {
    match std::fs::read(console.dir.join("index.html")) {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((CACHE_CONTROL, "no-cache"))
            .body(html),
        Err(_) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(
                "<!doctype html><html lang=\"en\"><title>Console not built</title><main>\
             <h1>The console is not built</h1><p>Run <code>cargo xtask up</code>, or \
             <code>npm ci &amp;&amp; npm run build</code> in <code>console/</code>. The GraphQL \
             API answers at <code>/graphql</code>; its schema is at \
             <a href=\"/graphql/schema\">/graphql/schema</a>.</p></main></html>",
            ),
    }
}

/// A file at the console's root (icons, robots.txt).
async fn root_file(
    console: web::Data<Console>,
    file: web::Path<(String, String)>,
) -> actix_web::Result<NamedFile> {
    Ok(NamedFile::open(console.dir.join(&file.0))?)
}
