#include <libxml/xmlversion.h>
/* Keep <unicode/*.h> out: Debian builds libxml2 with ICU, whose headers clash
   with Foundation's _FoundationICU (see README, "Building"). */
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <libxml/xmlwriter.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
/* xmlFree may be a macro in other builds. */
static inline void cxml_free(void *p) { xmlFree(p); }
